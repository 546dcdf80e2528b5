/**
 * The agent's link to the dispatcher (protocol in common/protocol.ts): hello → welcome, then
 * heartbeats, `pull` credits, streamed output and results; the dispatcher assigns, cancels, acks
 * and commands. Results stay in memory until acked and are resent after every welcome. The link
 * reconnects with jittered exponential backoff, and a long one after a refusal.
 *
 * Credits: the agent keeps `running + outstanding credits == slots`. After welcome it pulls
 * `slots - running`; each finished job frees one; raising slots pulls the difference; lowering
 * them simply pulls less until the node is under the new bound. An assign arriving with no free
 * slot (dispatcher and agent briefly disagree) is answered with a `rejected` result.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { systemClock, type Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { CloseCode, PROTOCOL_VERSION, parseDispatcherMessage, type AgentMessage, type Health, type NodeIdentity, type ResultBody } from '../common/protocol.ts';
import { realTimer, type AgentEvents, type AgentOptions, type AgentStats, type Msg, type ReconnectTimer } from './agent-types.ts';
import { DEFAULT_BACKOFF, reconnectDelay, type BackoffOptions } from './backoff.ts';
import { BootReporter, SilenceWatch } from './link-health.ts';
import { runDispatcherCommand } from './node-commands.ts';
import { fitResult } from './result-size.ts';
import { ShellSessions } from './shell.ts';
import type { RunningAttempt } from './runner.ts';
import { Watchdog } from './watchdog.ts';

export type { AgentEvents, AgentOptions, AgentStats, JobRunner, ReconnectTimer } from './agent-types.ts';

export class Agent extends EventEmitter<AgentEvents> {
  private ws: WebSocket | undefined;
  private ready = false;
  private stopped = true;
  private readonly running = new Map<number, RunningAttempt>();
  /** Killed on the dispatcher's word (welcome.abandon): their results are not reported. */
  private readonly abandoned = new Set<number>();
  private readonly unacked = new Map<number, ResultBody>();
  private dispatcherSlots = 0;
  private credits = 0;
  private heartbeatMs = 2000;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private reconnectHandle: unknown;
  private failures = 0;
  private welcomedAt: number | undefined;
  /** Boot id of the last hello (the boot report's; link-health.ts). */
  private helloBootId: string | undefined;
  private readonly bootReport: BootReporter<WebSocket>;
  private readonly silence = new SilenceWatch();
  private lastSeen = 0;
  private closeReason: 'refused' | 'replaced' | undefined;
  private heartbeatBusy = false;
  private malformedFrames = 0;
  private reconnects = 0;
  private watchdog: Watchdog | undefined;
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  private readonly timer: ReconnectTimer;
  private readonly log: Logger;
  /** Browser shell sessions (ptys) opened by the dispatcher. */
  private readonly shells: ShellSessions;

  constructor(private readonly o: AgentOptions) {
    super();
    this.shells = new ShellSessions((m) => this.send(m), { log: o.log.child({ component: 'shell' }) });
    this.backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
    this.clock = o.clock ?? systemClock;
    this.timer = o.reconnectTimer ?? realTimer;
    this.log = o.log;
    const stableAfterMs = o.stableAfterMs ?? 10_000;
    this.bootReport = new BootReporter({ stableAfterMs, build: o.bootReport, send: (r) => this.send({ type: 'boot-report', ...r }), log: this.log });
  }

  /** Effective slots: the dispatcher's count, capped locally. */
  get slots(): number {
    return Math.min(this.dispatcherSlots, this.o.slotsCap ?? Number.POSITIVE_INFINITY);
  }

  stats(): AgentStats {
    return {
      connected: this.ready,
      running: [...this.running.keys()],
      unacked: [...this.unacked.keys()],
      slots: this.slots,
      credits: this.credits,
      malformedFrames: this.malformedFrames,
      reconnects: this.reconnects,
    };
  }

  /** Arms the watchdog (throws if it cannot) and starts connecting; returns at once. */
  start(): void {
    if (!this.stopped) return;
    if (this.o.watchdog) {
      const watchdog = new Watchdog({ ...this.o.watchdog, log: this.log.child({ component: 'watchdog' }), onPet: () => this.emit('watchdog-pet') });
      watchdog.start();
      this.watchdog = watchdog;
    }
    this.stopped = false;
    void this.connect();
  }

  /**
   * Clean stop: no reconnect, running jobs killed (their results are sent if the link is up),
   * the connection closed, the watchdog disarmed with the magic close.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectHandle !== undefined) this.timer.clear(this.reconnectHandle);
    this.reconnectHandle = undefined;
    const jobs = [...this.running.values()];
    for (const job of jobs) job.cancel('agent stopping');
    await Promise.all(jobs.map((j) => j.done));
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      ws.close(1000, 'agent stopping');
      const t = setTimeout(() => ws.terminate(), 2000);
      await closed;
      clearTimeout(t);
    }
    this.stopTimers();
    this.shells.closeAll('agent stopping');
    this.watchdog?.stop();
    this.watchdog = undefined;
    this.emit('stopped');
  }

  // ── connection ─────────────────────────────────────────────────────────────────────
  private async connect(): Promise<void> {
    this.reconnectHandle = undefined;
    if (this.stopped) return;
    this.emit('connecting', { attempt: this.failures });
    let node: NodeIdentity;
    try {
      node = await this.o.identity();
    } catch (e) {
      this.log.error({ err: e }, 'cannot collect node identity');
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const ws = new WebSocket(this.o.url, { handshakeTimeout: 10_000, maxPayload: 64 * 1024 * 1024, ...this.o.wsOptions });
    this.ws = ws;
    this.closeReason = undefined;
    ws.on('open', () => {
      this.lastSeen = this.clock.now();
      this.log.debug({ url: this.o.url }, 'connected; sending hello');
      this.helloBootId = node.bootId;
      this.send({ type: 'hello', protocol: PROTOCOL_VERSION, token: this.o.token, node, running: this.reportedRunning() });
      this.helloTimer = setTimeout(() => {
        this.log.warn({ timeoutMs: this.o.helloTimeoutMs ?? 10_000 }, 'no welcome from the dispatcher; reconnecting');
        ws.terminate();
      }, this.o.helloTimeoutMs ?? 10_000);
    });
    ws.on('message', (data, isBinary) => {
      if (ws !== this.ws) return;
      this.lastSeen = this.clock.now();
      this.onFrame(isBinary ? Buffer.from(data as Buffer) : (data as Buffer).toString('utf8'));
    });
    ws.on('pong', () => {
      this.lastSeen = this.clock.now();
    });
    ws.on('error', (e) => {
      if (/Unexpected server response: 40[13]\b/.test(e.message)) this.closeReason = 'refused';
      this.log.warn({ err: e.message, url: this.o.url }, 'dispatcher connection error');
    });
    ws.on('close', (code, reasonBuf) => this.onClose(ws, code, reasonBuf.toString('utf8')));
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = undefined;
    const wasReady = this.ready;
    this.ready = false;
    this.credits = 0;
    this.stopTimers();
    this.shells.closeAll('dispatcher connection lost');
    if (code === CloseCode.refused) this.closeReason = 'refused';
    if (code === CloseCode.replaced) this.closeReason = 'replaced';
    const upFor = this.welcomedAt === undefined ? 0 : this.clock.now() - this.welcomedAt;
    this.welcomedAt = undefined;
    if (wasReady && upFor >= (this.o.stableAfterMs ?? 10_000)) this.failures = 0;
    this.bootReport.closed(ws, this.clock.now());
    (wasReady ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log))({ code, reason }, 'disconnected from the dispatcher');
    this.emit('disconnected', { code, reason });
    if (!this.stopped) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectHandle !== undefined) return;
    const reason = this.closeReason ?? 'backoff';
    const delayMs = reconnectDelay(reason, this.failures, this.backoff, this.o);
    if (reason === 'refused') this.log.error({ retryInMs: delayMs }, 'the dispatcher refused this agent; retrying after a long pause');
    if (reason === 'replaced') this.log.error({ retryInMs: delayMs }, 'another connection for this node name replaced this one; is the name used twice?');
    this.failures++;
    this.reconnects++;
    this.emit('reconnect-scheduled', { delayMs, reason });
    this.reconnectHandle = this.timer.set(() => void this.connect(), delayMs);
  }

  private stopTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.helloTimer);
    this.heartbeatTimer = this.helloTimer = undefined;
  }

  private send(msg: AgentMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  private reportedRunning(): number[] {
    return [...this.running.keys()].filter((id) => !this.abandoned.has(id));
  }

  // ── frames ─────────────────────────────────────────────────────────────────────────
  private onFrame(raw: string | Buffer): void {
    const parsed = parseDispatcherMessage(raw);
    if (!parsed.ok) {
      this.malformedFrames++;
      this.log.warn({ error: parsed.error, code: parsed.code }, 'malformed frame from the dispatcher; ignored');
      this.send({ type: 'event', kind: 'protocol', level: 'warn', message: `agent dropped a malformed frame: ${parsed.error}`.slice(0, 16 * 1024) });
      this.emit('malformed', { error: parsed.error });
      return;
    }
    const m = parsed.message;
    try {
      switch (m.type) {
        case 'welcome':
          return this.onWelcome(m);
        case 'assign':
          return this.onAssign(m);
        case 'cancel':
          return this.onCancel(m);
        case 'result-ack':
          this.unacked.delete(m.attemptId);
          this.emit('result-acked', { attemptId: m.attemptId });
          return;
        case 'set-slots':
          this.dispatcherSlots = m.slots;
          this.log.info({ slots: this.slots, dispatcherSlots: m.slots }, 'slots changed');
          this.emit('slots-changed', { slots: this.slots });
          this.topUpCredits();
          return;
        case 'command':
          return void this.onCommand(m).catch((e: unknown) => this.log.error({ err: e }, 'node command failed'));
        case 'shell-open':
        case 'shell-input':
        case 'shell-resize':
        case 'shell-close':
          return this.shells.handle(m);
        case 'error':
          this.log.warn({ code: m.code, message: m.message }, 'the dispatcher reported an error');
          this.emit('dispatcher-error', { code: m.code, message: m.message });
          return;
        case 'refused':
          this.closeReason = 'refused';
          this.log.error({ code: m.code, message: m.message }, 'the dispatcher refused this agent');
          this.emit('refused', { code: m.code, message: m.message });
          return;
      }
    } catch (e) {
      this.log.error({ err: e, type: m.type }, 'error handling a dispatcher frame');
    }
  }

  private onWelcome(m: Msg<'welcome'>): void {
    clearTimeout(this.helloTimer);
    if (m.protocol !== PROTOCOL_VERSION) this.log.warn({ ours: PROTOCOL_VERSION, theirs: m.protocol }, 'dispatcher speaks another protocol version');
    this.ready = true;
    this.welcomedAt = this.clock.now();
    this.silence.reset();
    this.heartbeatMs = m.heartbeatMs;
    this.dispatcherSlots = m.slots;
    this.credits = 0;
    for (const id of m.abandon) {
      this.unacked.delete(id);
      const job = this.running.get(id);
      if (!job) continue;
      this.abandoned.add(id);
      this.log.info({ attemptId: id }, 'the dispatcher abandoned this attempt; killing it');
      job.cancel('abandoned by the dispatcher');
    }
    this.log.info({ node: m.node, slots: this.slots, heartbeatMs: m.heartbeatMs, resending: this.unacked.size }, 'welcomed by the dispatcher');
    this.emit('welcome', m);
    if (this.ws) this.bootReport.welcomed(this.ws, this.helloBootId, m.serverTime, this.clock.now());
    for (const result of this.unacked.values()) this.send({ type: 'result', result });
    void this.heartbeat();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.heartbeatMs);
    this.topUpCredits();
  }

  private topUpCredits(): void {
    if (!this.ready) return;
    const want = Math.min(4096, this.slots - this.running.size - this.credits);
    if (want <= 0) return;
    if (this.send({ type: 'pull', slots: want })) {
      this.credits += want;
      this.emit('pull-sent', { slots: want });
    }
  }

  private async heartbeat(): Promise<void> {
    const ws = this.ws;
    if (!this.ready || !ws) return;
    // A dispatcher that vanished without a FIN (power cut) is noticed here, not by TCP minutes later
    // (judged at every tick, also while a slow health read is still busy).
    if (this.silence.tick(this.clock.now(), this.lastSeen, this.heartbeatMs)) {
      this.log.warn({ silentMs: this.clock.now() - this.lastSeen }, 'dispatcher silent; reconnecting');
      ws.terminate();
      return;
    }
    if (this.heartbeatBusy) return;
    this.heartbeatBusy = true;
    try {
      let health: Health = {};
      try {
        health = await this.o.health();
      } catch (e) {
        this.log.warn({ err: e }, 'health collection failed');
      }
      if (ws !== this.ws || !this.ready) return;
      const running = this.reportedRunning();
      this.send({ type: 'heartbeat', health, running });
      if (ws.readyState === WebSocket.OPEN) ws.ping();
      this.emit('heartbeat-sent', { running, health });
    } finally {
      this.heartbeatBusy = false;
    }
  }

  private onAssign(m: Msg<'assign'>): void {
    this.credits = Math.max(0, this.credits - 1);
    this.emit('assign', m);
    if (this.running.has(m.attemptId)) {
      this.log.warn({ attemptId: m.attemptId }, 'duplicate assign for a running attempt; ignored');
      return;
    }
    const kept = this.unacked.get(m.attemptId);
    if (kept) {
      this.log.warn({ attemptId: m.attemptId }, 'assign for an attempt that already finished; resending its result');
      this.send({ type: 'result', result: kept });
      return;
    }
    if (this.running.size >= this.slots) {
      const now = this.clock.now();
      const error = `no free slot on this node (${this.running.size} running, ${this.slots} slots)`;
      this.log.warn({ attemptId: m.attemptId, jobId: m.jobId }, error);
      this.record({ attemptId: m.attemptId, jobId: m.jobId, outcome: 'rejected', error, startedAt: now, durationMs: 0 }, false);
      return;
    }
    const job = this.o.runner.start(
      { attemptId: m.attemptId, jobId: m.jobId, spec: m.spec, timeoutMs: m.timeoutMs, outputLimitBytes: m.outputLimitBytes },
      (stream, data) => {
        if (this.ready && !this.abandoned.has(m.attemptId)) this.send({ type: 'output', attemptId: m.attemptId, stream, data });
      },
    );
    this.running.set(m.attemptId, job);
    this.log.info({ attemptId: m.attemptId, jobId: m.jobId, kind: m.spec.kind }, 'job started');
    this.emit('job-started', { attemptId: m.attemptId, jobId: m.jobId });
    void job.done.then((result) => {
      this.running.delete(m.attemptId);
      const discarded = this.abandoned.delete(m.attemptId);
      this.log.info({ attemptId: m.attemptId, jobId: m.jobId, outcome: result.outcome, durationMs: result.durationMs, discarded }, 'job finished');
      this.record(result, discarded);
      this.topUpCredits();
    });
  }

  /** Keeps a result until acked and sends it now if the link is up (else after the next welcome). */
  private record(raw: ResultBody, discarded: boolean): void {
    const result = fitResult(raw, this.o.maxResultFrameBytes);
    if (result !== raw) this.log.warn({ attemptId: raw.attemptId, outcome: result.outcome }, 'result too large for one frame; shrunk');
    if (!discarded) {
      this.unacked.set(result.attemptId, result);
      if (this.ready) this.send({ type: 'result', result });
    }
    this.emit('job-finished', { result, discarded });
  }

  private onCancel(m: Msg<'cancel'>): void {
    const job = this.running.get(m.attemptId);
    if (!job) {
      this.log.debug({ attemptId: m.attemptId }, 'cancel for an attempt that is not running; ignored');
      return;
    }
    this.log.info({ attemptId: m.attemptId, reason: m.reason }, 'cancelling job');
    job.cancel(m.reason);
  }

  private async onCommand(m: Msg<'command'>): Promise<void> {
    const outcome = await runDispatcherCommand(m, this.o, this.log, (message) => this.send({ type: 'event', kind: 'command', level: 'info', message }));
    this.send({ type: 'event', kind: 'command', level: outcome.ok ? 'info' : 'warn', message: `${m.command}: ${outcome.detail}` });
    this.emit('command', { command: m.command, ...outcome });
  }
}
