/**
 * One virtual agent: the real protocol (common/protocol.ts) over a real WebSocket, without
 * running anything. hello → welcome; then heartbeats with health (driven by the fleet's one
 * timer, `heartbeat()`), `pull` credits, and for each `assign` a result after the job's length
 * (`sleep N` jobs last N seconds, others `jobMs`). Results are kept until acked and resent
 * after a reconnect, like the real agent; `cancel` ends the job at once. A `reboot` command
 * reconnects with a new boot id. Once welcomed, a connection that closes (the master declared
 * the node lost, restarted, refused a hello) is reopened with exponential backoff and jitter
 * (`reconnectDelayMs`), as the real agent does, instead of the node staying gone.
 */
import WebSocket from 'ws';
import { PROTOCOL_VERSION, parseDispatcherMessage, type AgentMessage, type DispatcherMessage, type ResultBody } from '../common/protocol.ts';
import { initialHealth, stepHealth, type HealthState } from './health.ts';

export interface VirtualAgentOptions {
  /** `ws://host:port/agent` */
  readonly url: string;
  readonly name: string;
  readonly token: string;
  readonly slots: number;
  /** Length of a job that does not say (`sleep N`). */
  readonly jobMs: number;
  readonly mac?: string;
  readonly serial?: string;
  /** Source address of the connection (and the `ip` in hello), e.g. one loopback address per agent. */
  readonly localAddress?: string;
  readonly random: () => number;
  readonly now: () => number;
  readonly events: VirtualAgentEvents;
}

export interface VirtualAgentEvents {
  assigned(jobId: number, attemptId: number): void;
  acked(attemptId: number): void;
  refused(name: string, code: string, message: string): void;
  closed(name: string, code: number): void;
}

interface RunningJob {
  readonly jobId: number;
  readonly startedAt: number;
  timer: NodeJS.Timeout | undefined;
}

export class VirtualAgent {
  private ws: WebSocket | undefined;
  private bootId: string;
  private readonly health: HealthState;
  private readonly running = new Map<number, RunningJob>();
  private readonly unacked = new Map<number, ResultBody>();
  private lastHeartbeatAt = 0;
  heartbeatMs = 1000;
  /** When the next heartbeat is due (the fleet's timer reads it). */
  nextHeartbeatAt = Infinity;
  welcomed = false;
  private stopped = false;
  private rebooting = false;
  private started = false;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Reconnections after a lost connection (not reboots). */
  reconnects = 0;
  /** Frozen (chaos: a hung process): nothing is sent or handled; messages wait for `thaw`. */
  private frozen = false;
  private readonly held: DispatcherMessage[] = [];
  /** Connected but not pulling work until `release` (chaos: the whole fleet starts at once). */
  private holding = false;
  private slots: number;

  constructor(private readonly o: VirtualAgentOptions) {
    this.bootId = bootIdOf(o.random);
    this.health = initialHealth(o.random);
    this.slots = o.slots;
  }

  get name(): string {
    return this.o.name;
  }

  /** Connects and resolves once welcomed; rejects if refused or the socket fails first. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.o.url, { perMessageDeflate: false, ...(this.o.localAddress ? { localAddress: this.o.localAddress } : {}) });
      this.ws = ws;
      let settled = false;
      const settle = (e?: Error) => {
        if (settled) return;
        settled = true;
        if (e) reject(e);
        else resolve();
      };
      ws.on('open', () => this.send(this.hello()));
      ws.on('message', (raw) => {
        const parsed = parseDispatcherMessage(raw as Buffer);
        if (!parsed.ok) return;
        const m = parsed.message;
        if (this.frozen) {
          if (this.held.length < 10_000) this.held.push(m);
          return;
        }
        if (m.type === 'welcome') settle();
        if (m.type === 'refused') {
          this.o.events.refused(this.o.name, m.code, m.message);
          settle(new Error(`${this.o.name} refused: ${m.code} ${m.message}`));
        }
        this.onMessage(m);
      });
      ws.on('error', (e) => settle(e));
      ws.on('close', (code) => {
        if (this.ws !== ws) return;
        this.welcomed = false;
        this.nextHeartbeatAt = Infinity;
        this.o.events.closed(this.o.name, code);
        settle(new Error(`${this.o.name}: connection closed (${code}) before welcome`));
        this.afterClose();
      });
    });
  }

  /** Sends a heartbeat if one is due; the fleet calls this from its timer. */
  heartbeat(now: number): void {
    if (!this.welcomed || this.frozen || now < this.nextHeartbeatAt) return;
    const elapsed = this.lastHeartbeatAt ? now - this.lastHeartbeatAt : this.heartbeatMs;
    this.lastHeartbeatAt = now;
    this.nextHeartbeatAt = now + this.heartbeatMs;
    const health = stepHealth(this.health, this.running.size, this.slots, elapsed, this.o.random);
    this.send({ type: 'heartbeat', health, running: [...this.running.keys()] });
  }

  /** Chaos: the process hangs (as under SIGSTOP) — no heartbeats, results or replies until `thaw`. */
  freeze(): void {
    this.frozen = true;
  }

  /** Chaos: the hang ends; held messages are handled, unacked results resent, a closed link reopened. */
  thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    for (const m of this.held.splice(0)) this.onMessage(m);
    for (const body of this.unacked.values()) this.send({ type: 'result', result: body });
    if (this.welcomed && this.running.size < this.slots) this.send({ type: 'pull', slots: this.slots - this.running.size });
    if (!this.ws || this.ws.readyState === this.ws.CLOSED) this.afterClose();
  }

  /** Chaos: connect and heartbeat but pull no work until `release`. */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    if (!this.holding) return;
    this.holding = false;
    if (this.welcomed && this.running.size < this.slots) this.send({ type: 'pull', slots: this.slots - this.running.size });
  }

  /** Chaos: the link drops (no close handshake); the agent reconnects with backoff, its state kept. */
  dropConnection(): void {
    this.ws?.terminate();
  }

  /** Chaos: the agent process dies and restarts — running jobs and unacked results are gone, new boot id. */
  crash(): void {
    for (const r of this.running.values()) clearTimeout(r.timer);
    this.running.clear();
    this.unacked.clear();
    this.held.length = 0;
    this.frozen = false;
    this.bootId = bootIdOf(this.o.random);
    this.ws?.terminate();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    for (const r of this.running.values()) clearTimeout(r.timer);
    this.running.clear();
    this.ws?.close(1000, 'simulation over');
  }

  private hello(): AgentMessage {
    return {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      token: this.o.token,
      node: {
        name: this.o.name,
        ...(this.o.mac ? { mac: this.o.mac } : {}),
        ...(this.o.serial ? { serial: this.o.serial } : {}),
        ...(this.o.localAddress ? { ip: this.o.localAddress } : {}),
        model: 'Raspberry Pi 4 Model B Rev 1.5 (simulated)',
        cpus: 4,
        memoryMb: this.health.memTotalMb,
        arch: 'arm64',
        platform: 'linux',
        agentVersion: 'simulated',
        imageVersion: 'simulated',
        bootId: this.bootId,
        isolation: { kind: 'process-group', note: 'virtual agent: runs nothing' },
      },
      running: [...this.running.keys()],
    };
  }

  private onMessage(m: DispatcherMessage): void {
    switch (m.type) {
      case 'welcome': {
        this.welcomed = true;
        this.started = true;
        this.failures = 0;
        this.heartbeatMs = m.heartbeatMs;
        this.slots = m.slots;
        for (const id of m.abandon) this.finish(id, undefined);
        for (const body of this.unacked.values()) this.send({ type: 'result', result: body });
        // Spread the first heartbeats over one interval, as agents booted at different times would.
        this.nextHeartbeatAt = this.o.now() + Math.floor(this.o.random() * this.heartbeatMs);
        const free = this.slots - this.running.size;
        if (free > 0 && !this.holding) this.send({ type: 'pull', slots: free });
        break;
      }
      case 'assign': {
        this.o.events.assigned(m.jobId, m.attemptId);
        const ms = jobLengthMs(m.spec, this.o.jobMs);
        const run: RunningJob = { jobId: m.jobId, startedAt: Date.now(), timer: undefined };
        this.running.set(m.attemptId, run);
        run.timer = setTimeout(() => this.finish(m.attemptId, 'succeeded'), ms);
        break;
      }
      case 'cancel':
        this.finish(m.attemptId, 'cancelled');
        break;
      case 'result-ack':
        if (this.unacked.delete(m.attemptId)) this.o.events.acked(m.attemptId);
        break;
      case 'set-slots': {
        const more = m.slots - this.slots;
        this.slots = m.slots;
        if (more > 0) this.send({ type: 'pull', slots: more });
        break;
      }
      case 'command':
        if (m.command === 'reboot') this.reboot();
        break;
      default:
        break;
    }
  }

  /** Ends an attempt: reports it (unless abandoned) and pulls one more job. */
  private finish(attemptId: number, outcome: 'succeeded' | 'cancelled' | undefined): void {
    const run = this.running.get(attemptId);
    if (!run) return;
    clearTimeout(run.timer);
    this.running.delete(attemptId);
    if (outcome) {
      const body: ResultBody = {
        attemptId,
        jobId: run.jobId,
        outcome,
        exitCode: outcome === 'succeeded' ? 0 : null,
        stdout: '',
        startedAt: run.startedAt,
        durationMs: Date.now() - run.startedAt,
      };
      this.unacked.set(attemptId, body);
      this.send({ type: 'result', result: body });
    }
    if (this.welcomed && this.running.size < this.slots) this.send({ type: 'pull', slots: 1 });
  }

  private reboot(): void {
    for (const r of this.running.values()) clearTimeout(r.timer);
    this.running.clear();
    this.unacked.clear();
    this.bootId = bootIdOf(this.o.random);
    this.rebooting = true;
    this.ws?.close(1000, 'rebooting');
  }

  /** After a close: a reboot comes back in 100 ms; a lost connection of a started agent with backoff. */
  private afterClose(): void {
    if (this.stopped || this.reconnectTimer || this.frozen) return;
    let ms: number;
    if (this.rebooting) {
      this.rebooting = false;
      ms = 100;
    } else if (this.started) {
      ms = reconnectDelayMs(this.failures++, this.o.random);
      this.reconnects++;
    } else return; // never welcomed: the fleet's start reports the failure
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.stopped) void this.connect().catch(() => {});
    }, ms);
  }

  private send(m: AgentMessage): void {
    const ws = this.ws;
    if (ws && !this.frozen && ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  }
}

/** Backoff before reconnect number `failures` (from 0): 0.5 s doubling to 30 s, each ×0.5–1.5 at random. */
export function reconnectDelayMs(failures: number, random: () => number): number {
  return Math.round(Math.min(30_000, 500 * 2 ** Math.min(failures, 16)) * (0.5 + random()));
}

/** `sleep N` (seconds) lasts N seconds; anything else lasts `fallbackMs`. */
export function jobLengthMs(spec: { kind: string; argv?: readonly string[] }, fallbackMs: number): number {
  if (spec.kind === 'exec' && spec.argv?.[0] === 'sleep') {
    const s = Number(spec.argv[1]);
    if (Number.isFinite(s) && s >= 0) return Math.min(s * 1000, 2 ** 31 - 1);
  }
  return fallbackMs;
}

function bootIdOf(random: () => number): string {
  const hex = () =>
    Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return `${hex()}-${hex().slice(0, 4)}-${hex().slice(0, 4)}-${hex().slice(0, 4)}-${hex()}${hex().slice(0, 4)}`;
}
