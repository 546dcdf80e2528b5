/**
 * The one place where domain, store and agent links meet. Routes and ws gateways only
 * validate, call a method here, and serialise. Time comes from the injected clock.
 *
 * Durability rules:
 * - `submit` returns only after the jobs are committed.
 * - A result is acked to its agent only after the attempt's end is committed; results that
 *   arrive together are committed in one transaction (group commit), then acked.
 * - An attempt's end is a compare-and-set in the store, so a late or duplicate result can
 *   never be recorded twice; it is counted (and journaled) as stale instead.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../common/clock.ts';
import type { StrategyName } from '../common/config.ts';
import type { Logger } from '../common/logger.ts';
import {
  CloseCode,
  PROTOCOL_VERSION,
  type AgentMessage,
  type DispatcherMessage,
  type JobSpec,
  type MessageOf,
  type Requirements,
  type ResultBody,
} from '../common/protocol.ts';
import { verifyNodeToken } from '../common/tokens.ts';
import type { BootEvent } from '../netboot/boot-event.ts';
import type { Inventory } from '../inventory/inventory.ts';
import { IllegalTransitionError, JobFinishedError, JobNotFoundError, NodeExistsError, NodeNotFoundError } from './domain/errors.ts';
import { JobQueue } from './domain/job-queue.ts';
import type { RetryCause } from './domain/jobs.ts';
import { jobAfterAttempt, type AttemptResult, type AttemptState, type Job, type JobState, type NewJob, type RetryPolicy } from './domain/jobs.ts';
import { acceptsWork, assertNodeTransition, canTransitionNode, isConnectedState, type NodeEvent, type NodeRecord, type NodeState } from './domain/nodes.ts';
import { createStrategy, updatePerf, type Candidate, type Strategy } from './domain/strategies.ts';
import {
  DEFAULT_HEALTH_POLICY,
  HEALTHY,
  describePlacement,
  healthPlacement,
  placementChanged,
  type HealthPlacement,
  type HealthPolicy,
} from './domain/health.ts';
import type { DispatcherEvents } from './events.ts';
import { RuntimeNode, type AgentLink } from './node-runtime.ts';
import { OutputBuffer } from './output-buffer.ts';
import { StoreRetry } from './store-retry.ts';
import type { JobQuery, Store } from './store/store.ts';
import type { NodeView } from './views.ts';

export interface SchedulerSettings {
  readonly strategy: StrategyName;
  readonly heartbeatMs: number;
  readonly missedHeartbeats: number;
  readonly restartGraceMs: number;
  readonly defaultRetries: number;
  readonly retryBackoffMs: number;
  readonly retryBackoffMaxMs: number;
  readonly outputLimitBytes: number;
  /** Health-aware placement (derate/skip hot, throttled, undervolted nodes); defaults to DEFAULT_HEALTH_POLICY. */
  readonly health?: HealthPolicy;
}

export interface DispatcherDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly scheduler: SchedulerSettings;
  /** Node tokens are derived from it. */
  readonly clusterSecret: string;
  readonly inventory?: Inventory;
  readonly random?: () => number;
  /** Poison-job guard: fail (not retry) a job after this many attempts died with their node (0/absent = off). */
  readonly poisonAfterNodeLosses?: number;
  /** Coalesces scheduling and result commits; defaults to `setImmediate`. */
  readonly defer?: (fn: () => void) => void;
}

export interface JobSubmission {
  readonly name?: string;
  readonly spec: JobSpec;
  readonly priority?: number;
  readonly group?: string;
  readonly retries?: number;
  readonly retryOn?: readonly RetryCause[];
  readonly timeoutMs?: number;
  readonly requirements?: Requirements;
}

/** What the Dispatcher keeps in memory about each running attempt. */
interface RunningAttempt {
  readonly attemptId: number;
  readonly jobId: number;
  readonly node: string;
  readonly startedAt: number;
  /** The job as it is while this attempt runs (kept so ending it needs no read). */
  job: Job;
  output?: { stdout: OutputBuffer; stderr: OutputBuffer };
}

export type HelloOutcome = { ok: true; node: string } | { ok: false; code: string; message: string };

interface PendingResult {
  readonly node: string;
  readonly link: AgentLink;
  readonly body: ResultBody;
}

export class Dispatcher extends EventEmitter<DispatcherEvents> {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly settings: SchedulerSettings;
  private readonly retryPolicy: RetryPolicy;
  private readonly strategy: Strategy;
  private readonly defer: (fn: () => void) => void;
  private readonly nodes = new Map<string, RuntimeNode>();
  private queue = new JobQueue<Job>();
  private readonly running = new Map<number, RunningAttempt>();
  private readonly groupDuration = new Map<string, number>();
  private pendingResults: PendingResult[] = [];
  /** Frames to send once the current pump's transaction has committed. */
  private outbox: [AgentLink, DispatcherMessage][] = [];
  private pumpRequested = false;
  private retryPump = false;
  private started = false;
  private staleCount = 0;
  /** Last health-aware placement decision per node (events only when it changes). */
  private readonly placements = new Map<string, HealthPlacement>();
  /** Handler-side store writes that failed (disk full, busy) are kept here and retried from tick(). */
  private readonly storeRetry: StoreRetry;

  constructor(private readonly deps: DispatcherDeps) {
    super();
    this.store = deps.store;
    this.clock = deps.clock;
    this.log = deps.log;
    this.settings = deps.scheduler;
    this.retryPolicy = {
      backoffMs: deps.scheduler.retryBackoffMs,
      backoffMaxMs: deps.scheduler.retryBackoffMaxMs,
      ...(deps.poisonAfterNodeLosses ? { poisonAfterNodeLosses: deps.poisonAfterNodeLosses } : {}),
    };
    this.strategy = createStrategy(deps.scheduler.strategy, deps.random);
    this.defer = deps.defer ?? ((fn) => setImmediate(fn));
    this.storeRetry = new StoreRetry(deps.log, {
      failed: (pending, e) => this.emit('storeHealth', { ok: false, pending, message: e instanceof Error ? e.message : String(e) }),
      recovered: () => this.emit('storeHealth', { ok: true, pending: 0 }),
    });
  }

  /** Store writes kept for a retry because the store refused them. */
  get pendingStoreWrites(): number {
    return this.storeRetry.size;
  }

  private get lostAfterMs(): number {
    return this.settings.heartbeatMs * this.settings.missedHeartbeats;
  }

  // ── start-up ─────────────────────────────────────────────────────────────────────────

  /** Loads nodes, the queue and running attempts from the store and the inventory. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const now = this.clock.now();
    for (const record of this.store.listNodes()) this.nodes.set(record.name, new RuntimeNode(record));
    for (const inv of this.deps.inventory?.nodes ?? []) {
      const existing = this.nodes.get(inv.name);
      const fromInventory = {
        mac: inv.mac,
        model: inv.model,
        power: inv.power,
        ...(inv.serial ? { serial: inv.serial } : {}),
        ...(inv.ipv4 ? { ipv4: inv.ipv4 } : {}),
      };
      if (existing) {
        existing.update({
          ...fromInventory,
          labels: existing.record.labelsPatched ? existing.record.labels : inv.labels,
          ...(existing.record.slotsPatched ? {} : { slots: inv.slots }),
        });
      } else {
        this.nodes.set(inv.name, new RuntimeNode(this.newRecord(inv.name, 'inventory', now, { ...fromInventory, labels: inv.labels, slots: inv.slots })));
      }
      this.persistNode(this.nodes.get(inv.name)!, now);
    }
    this.loadRuntime(now);
    const grace = Math.max(this.settings.restartGraceMs, this.lostAfterMs);
    for (const node of this.nodes.values()) {
      // Attempts that were running when the master stopped wait for their agents to reconnect;
      // nodes that were connected wait too. Nodes held elsewhere (maintenance, rebooting) keep
      // their state, but their attempts are failed if nothing is heard by the deadline.
      if (isConnectedState(node.state) || node.state === 'suspect' || node.running.size > 0) {
        if (node.state !== 'suspect' && canTransitionNode(node.state, 'suspect'))
          this.setState(node, 'suspect', 'master restarted; waiting for the agent to reconnect', 'system');
        node.deadline = now + grace;
      }
    }
    this.staleCount = this.store.countStaleResults();
    this.log.info({ nodes: this.nodes.size, queued: this.queue.size, running: this.running.size }, 'dispatcher started');
  }

  /** (Re)builds the in-memory queue and running attempts from the store. */
  private loadRuntime(now: number): void {
    this.running.clear();
    for (const node of this.nodes.values()) {
      node.running.clear();
      node.orphans.clear();
    }
    for (const a of this.store.runningAttempts()) {
      const job = this.store.getJob(a.jobId);
      if (!job) continue;
      const node = this.nodeOrCreate(a.node, now);
      node.running.add(a.id);
      this.running.set(a.id, { attemptId: a.id, jobId: a.jobId, node: a.node, startedAt: a.startedAt, job });
    }
    this.queue = new JobQueue<Job>();
    for (const job of this.store.queuedJobs()) this.queue.enqueue(job, now);
  }

  /**
   * A listener that throws must not break the Dispatcher (or roll back a commit): it is logged.
   */
  override emit<K extends keyof DispatcherEvents>(event: K, ...args: DispatcherEvents[K]): boolean {
    try {
      return (super.emit as (e: K, ...a: DispatcherEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.log.error({ err: e, event }, 'a dispatcher event listener failed');
      return true;
    }
  }

  private newRecord(name: string, source: NodeRecord['source'], now: number, extra: Partial<NodeRecord> = {}): NodeRecord {
    return { name, labels: {}, source, state: 'offline', stateSince: now, boots: 0, jobsDone: 0, jobsFailed: 0, cpuMs: 0, ...extra };
  }

  private nodeOrCreate(name: string, now: number, source: NodeRecord['source'] = 'agent'): RuntimeNode {
    let node = this.nodes.get(name);
    if (!node) {
      node = new RuntimeNode(this.newRecord(name, source, now));
      this.nodes.set(name, node);
      this.persistNode(node, now);
    }
    return node;
  }

  // ── jobs ─────────────────────────────────────────────────────────────────────────────

  /** Commits the jobs, then queues them; returns them in submission order. */
  submit(submissions: readonly JobSubmission[]): Job[] {
    const now = this.clock.now();
    const newJobs: NewJob[] = submissions.map((s) => ({
      ...(s.name !== undefined ? { name: s.name } : {}),
      spec: s.spec,
      priority: s.priority ?? 0,
      group: s.group ?? 'default',
      retries: s.retries ?? this.settings.defaultRetries,
      ...(s.retryOn !== undefined ? { retryOn: s.retryOn } : {}),
      ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      requirements: s.requirements ?? {},
    }));
    const jobs = this.store.insertJobs(newJobs, now);
    for (const job of jobs) {
      this.queue.enqueue(job, now);
      this.emit('job', job);
    }
    this.requestSchedule();
    return jobs;
  }

  getJob(id: number): Job {
    const job = this.store.getJob(id);
    if (!job) throw new JobNotFoundError(id);
    return job;
  }

  getJobWithAttempts(id: number) {
    const job = this.getJob(id);
    return { ...job, attemptList: this.store.listAttempts(id) };
  }

  listJobs(query: JobQuery) {
    return this.store.listJobs(query);
  }

  jobCounts(): Record<JobState, number> {
    return this.store.countJobsByState();
  }

  /** Output of the job's current or last attempt: live while running, stored once ended. */
  jobOutput(id: number): { attemptId?: number; running: boolean; stdout: string; stderr: string; stdoutTruncated: number; stderrTruncated: number } {
    const job = this.getJob(id);
    const attemptId = job.currentAttemptId ?? job.lastAttemptId;
    if (attemptId === undefined) return { running: false, stdout: '', stderr: '', stdoutTruncated: 0, stderrTruncated: 0 };
    const live = this.running.get(attemptId);
    if (live) {
      return {
        attemptId,
        running: true,
        stdout: live.output?.stdout.text() ?? '',
        stderr: live.output?.stderr.text() ?? '',
        stdoutTruncated: live.output?.stdout.dropped ?? 0,
        stderrTruncated: live.output?.stderr.dropped ?? 0,
      };
    }
    const r = this.store.getAttempt(attemptId)?.result;
    return {
      attemptId,
      running: false,
      stdout: r?.stdout ?? '',
      stderr: r?.stderr ?? '',
      stdoutTruncated: r?.stdoutTruncated ?? 0,
      stderrTruncated: r?.stderrTruncated ?? 0,
    };
  }

  /** Cancels a queued job at once; a running one is killed on its node and ends `cancelled`. */
  cancel(id: number, actor = 'admin'): Job {
    const job = this.getJob(id);
    const now = this.clock.now();
    if (job.state === 'queued') {
      if (this.store.cancelQueuedJob(id, `cancelled by ${actor}`, now)) {
        this.queue.remove(id);
        const cancelled = this.getJob(id);
        this.emit('job', cancelled);
        return cancelled;
      }
    } else if (job.state === 'running' && job.currentAttemptId !== undefined) {
      this.store.markCancelRequested(id);
      const run = this.running.get(job.currentAttemptId);
      if (run) {
        run.job = { ...run.job, cancelRequested: true };
        this.nodes.get(run.node)?.link?.send({ type: 'cancel', attemptId: run.attemptId, reason: `cancelled by ${actor}` });
      }
      const marked = this.getJob(id);
      this.emit('job', marked);
      return marked;
    }
    throw new JobFinishedError(id, job.state);
  }

  // ── scheduling and commits ───────────────────────────────────────────────────────

  /**
   * Everything that writes on the hot path happens in one "pump" per event-loop turn: the
   * pending results are committed, then queued jobs are handed out, all in one transaction;
   * acks and assignments go out only after it has committed.
   */
  private requestSchedule(): void {
    if (this.pumpRequested) return;
    this.pumpRequested = true;
    this.defer(() => {
      this.pumpRequested = false;
      try {
        this.pump();
      } catch (e) {
        // pump() handles a failed commit itself; this is the resync's read failing too.
        this.log.error({ err: e }, 'scheduling pass failed; retried on the next tick');
        this.retryPump = true;
      }
    });
  }

  /** Commits pending results and hands out jobs now (tests and shutdown call it directly). */
  pump(): void {
    const now = this.clock.now();
    const batchLinks = new Set(this.pendingResults.map((r) => r.link));
    try {
      this.store.transaction(() => {
        this.commitResults(now);
        this.assignJobs(now);
      });
    } catch (e) {
      // Nothing was committed or acked. The in-memory view may have moved ahead of the store:
      // rebuild it from the store, and make the agents whose results were in the batch
      // reconnect, which makes them resend those results.
      this.outbox = [];
      this.log.error({ err: e }, 'could not commit; nothing was acknowledged; resyncing from the store');
      this.resync(now, batchLinks);
      return;
    }
    const out = this.outbox;
    this.outbox = [];
    if (out.length < 2) {
      for (const [link, msg] of out) link.send(msg);
      return;
    }
    // One write per agent for everything this pump sends it (assigns and acks).
    const links = new Set(out.map(([link]) => link));
    for (const link of links) link.cork?.();
    for (const [link, msg] of out) link.send(msg);
    for (const link of links) link.uncork?.();
  }

  private resync(now: number, links: Set<AgentLink>): void {
    this.pendingResults = [];
    this.loadRuntime(now);
    for (const node of this.nodes.values()) {
      if (node.link) node.credits = Math.max(0, node.slots - node.running.size);
    }
    for (const link of links) link.close(CloseCode.lost, 'dispatcher could not commit; reconnect and resend');
  }

  private assignJobs(now: number): number {
    const candidates: Candidate[] = [];
    for (const node of this.nodes.values()) {
      const free = node.free;
      if (free <= 0) continue;
      const placement = this.nodePlacement(node.name);
      if (placement.status === 'skipped') continue;
      const id = node.record.identity;
      candidates.push({
        name: node.name,
        labels: node.record.labels,
        cpus: id?.cpus ?? 1,
        memoryMb: id?.memoryMb ?? 0,
        arch: id?.arch ?? 'unknown',
        free,
        running: node.running.size,
        slots: node.slots,
        lastAssignedAt: node.lastAssignedAt,
        ...(node.perf !== undefined ? { perf: node.perf } : {}),
        derate: placement.derate,
      });
    }
    if (candidates.length === 0) return 0;
    const assignments = this.queue.schedule(candidates, this.strategy, now);
    if (assignments.length === 0) return 0;
    const started = this.store.startAttempts(assignments, now);
    const byJob = new Map(assignments.map((a) => [a.jobId, a.job]));
    for (const { jobId, attempt } of started) {
      const queued = byJob.get(jobId)!;
      const node = this.nodes.get(attempt.node)!;
      const job: Job = {
        ...queued,
        state: 'running',
        attempts: queued.attempts + 1,
        startedAt: queued.startedAt ?? now,
        currentAttemptId: attempt.id,
        lastAttemptId: attempt.id,
        node: node.name,
      };
      node.credits--;
      node.running.add(attempt.id);
      node.lastAssignedAt = now;
      this.running.set(attempt.id, { attemptId: attempt.id, jobId, node: node.name, startedAt: now, job });
      if (node.link) {
        this.outbox.push([
          node.link,
          {
            type: 'assign',
            attemptId: attempt.id,
            jobId,
            spec: job.spec,
            ...(job.timeoutMs !== undefined ? { timeoutMs: job.timeoutMs } : {}),
            outputLimitBytes: this.settings.outputLimitBytes,
          },
        ]);
      }
      this.emit('dispatched', {
        jobId,
        attemptId: attempt.id,
        node: node.name,
        latencyMs: Math.max(0, now - Math.max(queued.submittedAt, queued.availableAt)),
        group: job.group,
      });
      this.emit('job', job);
    }
    return started.length;
  }

  // ── agents ───────────────────────────────────────────────────────────────────────────

  /** Authenticates and registers an agent; on success the agent has been sent `welcome`. */
  agentHello(hello: MessageOf<AgentMessage, 'hello'>, link: AgentLink): HelloOutcome {
    const now = this.clock.now();
    const name = hello.node.name;
    if (hello.protocol !== PROTOCOL_VERSION) {
      return {
        ok: false,
        code: 'PROTOCOL_VERSION',
        message: `agent speaks protocol ${hello.protocol}, this dispatcher speaks ${PROTOCOL_VERSION}: upgrade the ${hello.protocol < PROTOCOL_VERSION ? 'agent (rebuild the image)' : 'master'}`,
      };
    }
    if (!verifyNodeToken(this.deps.clusterSecret, name, hello.token)) {
      return { ok: false, code: 'BAD_TOKEN', message: `the token does not belong to node '${name}'` };
    }
    const existing = this.nodes.get(name);
    if (!existing && this.removedNodes().has(name)) {
      return { ok: false, code: 'NODE_REMOVED', message: `node '${name}' was removed by an operator; add it again to let it join` };
    }
    if (existing?.state === 'pending-approval') {
      return { ok: false, code: 'NOT_APPROVED', message: `node '${name}' is waiting for approval` };
    }
    const node = this.nodeOrCreate(name, now);
    if (node.link && node.link !== link) node.link.close(CloseCode.replaced, 'replaced by a newer connection');
    const newBoot = node.record.bootId !== undefined && node.record.bootId !== hello.node.bootId;
    const abandon: number[] = [];
    if (newBoot) {
      // The node rebooted: nothing it ran before survives.
      this.failAttempts(node, [...node.running], 'node-lost', 'node rebooted', now);
      abandon.push(...hello.running);
    } else {
      const agentRunning = new Set(hello.running);
      for (const id of hello.running) if (!node.running.has(id)) abandon.push(id);
      const missing = [...node.running].filter((id) => !agentRunning.has(id));
      if (missing.length) {
        // Unacked results are resent right after welcome; wait one lost-interval for them.
        for (const id of missing) node.orphans.add(id);
        node.orphanDeadline = now + this.lostAfterMs;
      }
    }
    const wasConnected = node.link !== undefined;
    node.link = link;
    node.credits = 0;
    node.deadline = now + this.lostAfterMs;
    node.update({
      identity: hello.node,
      bootId: hello.node.bootId,
      lastSeenAt: now,
      ...(newBoot || node.record.bootId === undefined ? { boots: node.record.boots + 1 } : {}),
      ...(hello.node.mac && !node.record.mac ? { mac: hello.node.mac } : {}),
      ...(hello.node.serial && !node.record.serial ? { serial: hello.node.serial } : {}),
      ...(hello.node.model && !node.record.model ? { model: hello.node.model } : {}),
    });
    const wanted = node.record.drainRequested ? (node.running.size ? 'draining' : 'drained') : stateOnConnect(node.state);
    const target = canTransitionNode(node.state, wanted) ? wanted : node.state;
    if (target !== node.state) this.setState(node, target, newBoot ? 'agent connected after a reboot' : 'agent connected', 'agent');
    this.nodeEvent(
      node,
      wasConnected ? 'reconnect' : 'hello',
      `agent ${hello.node.agentVersion} connected (boot ${hello.node.bootId.slice(0, 8)}${hello.node.imageVersion ? `, image ${hello.node.imageVersion}` : ''})`,
      'agent',
      now,
    );
    this.persistNode(node, now);
    link.send({ type: 'welcome', protocol: PROTOCOL_VERSION, node: name, heartbeatMs: this.settings.heartbeatMs, slots: node.slots, abandon, serverTime: now });
    // A cancel asked while the agent was away is sent again now.
    for (const id of node.running) {
      if (this.running.get(id)?.job.cancelRequested) link.send({ type: 'cancel', attemptId: id, reason: 'cancelled' });
    }
    this.recordBootEvent({
      kind: 'agent-hello',
      at: now,
      node: name,
      outcome: newBoot ? 'rebooted' : 'connected',
      ...(hello.node.mac ? { mac: hello.node.mac } : {}),
      ...(hello.node.serial ? { serial: hello.node.serial } : {}),
      ...(hello.node.ip ? { ip: hello.node.ip } : {}),
      detail: {
        agentVersion: hello.node.agentVersion,
        bootId: hello.node.bootId,
        ...(hello.node.imageVersion ? { imageVersion: hello.node.imageVersion } : {}),
      },
    });
    this.emit('node', node.view());
    return { ok: true, node: name };
  }

  /** Any frame after hello. Frames from a replaced link are ignored. */
  agentMessage(name: string, link: AgentLink, msg: AgentMessage): void {
    const node = this.nodes.get(name);
    if (!node || node.link !== link) return;
    const now = this.clock.now();
    node.deadline = now + this.lostAfterMs;
    node.update({ lastSeenAt: now });
    if (node.state === 'suspect') this.setState(node, 'online', 'agent heard from again', 'agent');
    switch (msg.type) {
      case 'heartbeat':
        node.update({ health: msg.health });
        this.updatePlacement(node, now);
        if (now - node.persistedAt >= 10 * this.settings.heartbeatMs) this.persistNode(node, now);
        this.emit('heartbeat', { node: name });
        this.emit('node', node.view());
        break;
      case 'pull':
        node.credits = Math.min(node.credits + msg.slots, node.slots);
        this.requestSchedule();
        break;
      case 'output': {
        const run = this.running.get(msg.attemptId);
        if (!run || run.node !== name) return;
        run.output ??= { stdout: new OutputBuffer(this.settings.outputLimitBytes), stderr: new OutputBuffer(this.settings.outputLimitBytes) };
        run.output[msg.stream].append(msg.data);
        this.emit('output', { attemptId: msg.attemptId, jobId: run.jobId, stream: msg.stream, data: msg.data });
        break;
      }
      case 'result':
        this.pendingResults.push({ node: name, link, body: msg.result });
        this.requestSchedule();
        break;
      case 'event':
        this.nodeEvent(node, msg.kind, msg.message, 'agent', now);
        break;
      case 'shell-output':
      case 'shell-exit':
        // Browser shell frames are relayed by the ShellBroker, which subscribes to this event.
        this.emit('agentShellFrame', { node: name, message: msg });
        break;
      case 'hello':
        link.send({ type: 'error', code: 'ALREADY_REGISTERED', message: 'hello was already accepted on this connection' });
        break;
    }
  }

  agentDisconnected(name: string, link: AgentLink, clean: boolean): void {
    const node = this.nodes.get(name);
    if (!node || node.link !== link) return;
    node.link = undefined;
    node.credits = 0;
    if (clean && node.running.size === 0 && isConnectedState(node.state)) {
      this.setState(node, 'offline', 'agent disconnected', 'agent');
    } else if (isConnectedState(node.state)) {
      this.setState(node, 'suspect', 'connection lost', 'system');
    }
    this.persistNode(node, this.clock.now());
    this.emit('node', node.view());
  }

  // ── results ──────────────────────────────────────────────────────────────────────

  /** Commits every pending result (inside the pump's transaction) and queues their acks. */
  private commitResults(now: number): void {
    const batch = this.pendingResults;
    if (batch.length === 0) return;
    this.pendingResults = [];
    for (const r of batch) {
      this.applyResult(r, now);
      this.outbox.push([r.link, { type: 'result-ack', attemptId: r.body.attemptId }]);
    }
  }

  private applyResult({ node: from, body }: PendingResult, now: number): void {
    const run = this.running.get(body.attemptId);
    if (!run || run.node !== from || run.jobId !== body.jobId) {
      const attempt = this.store.getAttempt(body.attemptId);
      const reason = !attempt
        ? 'unknown'
        : attempt.node !== from
          ? 'foreign-node'
          : attempt.state === 'running'
            ? 'superseded'
            : attempt.state === body.outcome
              ? 'duplicate'
              : 'superseded';
      this.store.recordStaleResult({ attemptId: body.attemptId, ...(attempt ? { jobId: attempt.jobId } : {}), node: from, reason, at: now });
      this.countStale(body.attemptId, from, reason);
      return;
    }
    const state: Exclude<AttemptState, 'running'> = body.outcome;
    const reason = resultReason(body);
    const next =
      run.job.cancelRequested && state !== 'succeeded'
        ? ({ state: 'cancelled', reason: 'cancelled' } as const)
        : jobAfterAttempt(run.job, state, now, this.retryPolicy, reason);
    const result: AttemptResult = {
      ...(body.exitCode !== undefined ? { exitCode: body.exitCode } : {}),
      ...(body.signal !== undefined ? { signal: body.signal } : {}),
      ...(body.value !== undefined ? { value: body.value } : {}),
      ...(body.error !== undefined ? { error: body.error } : {}),
      stdout: body.stdout ?? '',
      stderr: body.stderr ?? '',
      ...(body.stdoutTruncated ? { stdoutTruncated: body.stdoutTruncated } : {}),
      ...(body.stderrTruncated ? { stderrTruncated: body.stderrTruncated } : {}),
      durationMs: body.durationMs,
      ...(body.cpuMs !== undefined ? { cpuMs: body.cpuMs } : {}),
      ...(body.peakMemoryBytes !== undefined ? { peakMemoryBytes: body.peakMemoryBytes } : {}),
    };
    if (
      !this.store.endAttempt({ attemptId: run.attemptId, jobId: run.jobId, state, at: now, ...(reason !== undefined ? { reason } : {}), result, job: next })
    ) {
      this.store.recordStaleResult({ attemptId: body.attemptId, jobId: run.jobId, node: from, reason: 'superseded', at: now });
      this.countStale(body.attemptId, from, 'superseded');
      return;
    }
    const node = this.nodes.get(run.node);
    if (node) {
      const succeeded = state === 'succeeded';
      node.update({
        jobsDone: node.record.jobsDone + (succeeded ? 1 : 0),
        jobsFailed: node.record.jobsFailed + (succeeded ? 0 : 1),
        cpuMs: node.record.cpuMs + (body.cpuMs ?? 0),
      });
      if (succeeded) this.learnPerformance(node, run.job.group, body.durationMs);
    }
    this.afterAttemptEnded(run, state, next, now, body.durationMs);
  }

  private countStale(attemptId: number, node: string, reason: string): void {
    this.staleCount++;
    this.log.debug({ attemptId, node, reason }, 'stale result dropped');
    this.emit('staleResult', { attemptId, node, reason });
  }

  get staleResults(): number {
    return this.staleCount;
  }

  private learnPerformance(node: RuntimeNode, group: string, durationMs: number): void {
    const avg = this.groupDuration.get(group);
    const d = Math.max(durationMs, 0.1);
    if (avg !== undefined && avg > 0) node.perf = updatePerf(node.perf, d / avg);
    this.groupDuration.set(group, updatePerf(avg, d, 0.1));
  }

  private afterAttemptEnded(
    run: RunningAttempt,
    state: Exclude<AttemptState, 'running'>,
    next: ReturnType<typeof jobAfterAttempt>,
    now: number,
    durationMs: number,
  ): void {
    this.running.delete(run.attemptId);
    const node = this.nodes.get(run.node);
    node?.running.delete(run.attemptId);
    node?.orphans.delete(run.attemptId);
    const { currentAttemptId: _ended, ...current } = run.job;
    const rest = { ...current, nodeLosses: current.nodeLosses + (state === 'node-lost' ? 1 : 0), abandons: current.abandons + (state === 'abandoned' ? 1 : 0) };
    const job: Job =
      next.state === 'queued'
        ? { ...rest, state: 'queued', availableAt: next.availableAt, reason: next.reason }
        : { ...rest, state: next.state, finishedAt: now, ...(next.reason !== undefined ? { reason: next.reason } : {}) };
    if (job.state === 'queued') this.queue.enqueue(job, now);
    if (node?.state === 'draining' && node.running.size === 0) {
      this.setState(node, 'drained', 'drain finished: no jobs left', 'system');
      this.persistNode(node, now);
    }
    this.emit('attemptEnded', { jobId: run.jobId, attemptId: run.attemptId, node: run.node, state, durationMs, retried: next.state === 'queued' });
    this.emit('job', job);
  }

  /** Ends running attempts of a node (lost, rebooted) and requeues their jobs within the retry cap. */
  private failAttempts(node: RuntimeNode, attemptIds: number[], state: 'node-lost' | 'abandoned', reason: string, now: number): void {
    if (attemptIds.length === 0) return;
    let first = true;
    // If the store refuses the commit, the in-memory view is rebuilt from it and the same
    // attempts are ended again from tick() until it accepts (nothing is lost, nothing doubled).
    this.storeRetry.run(
      `fail:${node.name}:${attemptIds.join(',')}`,
      () => {
        const at = first ? now : this.clock.now();
        first = false;
        this.failAttemptsNow(node, attemptIds, state, reason, at);
      },
      () => this.loadRuntime(this.clock.now()),
    );
  }

  private failAttemptsNow(node: RuntimeNode, attemptIds: number[], state: 'node-lost' | 'abandoned', reason: string, now: number): void {
    let ended = 0;
    this.store.transaction(() => {
      for (const id of attemptIds) {
        const run = this.running.get(id);
        if (!run || run.node !== node.name) continue;
        const next = run.job.cancelRequested
          ? ({ state: 'cancelled', reason: 'cancelled' } as const)
          : jobAfterAttempt(run.job, state, now, this.retryPolicy, reason);
        if (!this.store.endAttempt({ attemptId: id, jobId: run.jobId, state, at: now, reason, job: next })) continue;
        ended++;
        node.update({ jobsFailed: node.record.jobsFailed + 1 });
        this.afterAttemptEnded(run, state, next, now, now - run.startedAt);
      }
    });
    this.log.warn({ node: node.name, attempts: ended, reason }, 'attempts failed; jobs requeued within their retry cap');
    this.requestSchedule();
  }

  // ── time ─────────────────────────────────────────────────────────────────────────────

  /** Called periodically by the host (every ~heartbeatMs/4): lost nodes, orphans, due retries. */
  tick(): void {
    const now = this.clock.now();
    this.storeRetry.retry();
    if (this.retryPump) {
      this.retryPump = false;
      this.requestSchedule();
    }
    for (const node of this.nodes.values()) {
      if (node.orphanDeadline !== undefined && now >= node.orphanDeadline) {
        node.orphanDeadline = undefined;
        const ids = [...node.orphans].filter((id) => node.running.has(id));
        node.orphans.clear();
        // Never started (assign lost in flight) or the agent restarted: not the job's fault.
        this.failAttempts(node, ids, 'abandoned', 'agent restarted without a result', now);
      }
      if (node.deadline !== undefined && now >= node.deadline) {
        if (isConnectedState(node.state) || node.state === 'suspect') this.markLost(node, now);
        else if (!node.link && node.running.size > 0) {
          // Held in another state (maintenance, rebooting, …) and silent: its jobs go elsewhere.
          node.deadline = undefined;
          this.failAttempts(node, [...node.running], 'node-lost', `no heartbeat while ${node.state}`, now);
        }
      }
    }
    if (this.queue.promoteDue(now) > 0) this.requestSchedule();
  }

  private markLost(node: RuntimeNode, now: number): void {
    node.deadline = undefined;
    const silentMs = now - (node.record.lastSeenAt ?? now);
    this.setState(node, 'lost', `no heartbeat for ${silentMs} ms`, 'system');
    this.failAttempts(node, [...node.running], 'node-lost', 'node-lost', now);
    if (node.link) {
      node.link.close(CloseCode.lost, 'node declared lost');
      node.link = undefined;
      node.credits = 0;
    }
    this.persistNode(node, now);
    this.emit('node', node.view());
  }

  // ── nodes ────────────────────────────────────────────────────────────────────────────

  listNodes(): NodeView[] {
    return [...this.nodes.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })).map((n) => n.view());
  }

  getNode(name: string): NodeView {
    return this.runtime(name).view();
  }

  private runtime(name: string): RuntimeNode {
    const node = this.nodes.get(name);
    if (!node) throw new NodeNotFoundError(name);
    return node;
  }

  /** A node's view, or undefined (netboot asks about arbitrary names). */
  findNode(name: string): (NodeView & { ipv4?: string }) | undefined {
    const n = this.nodes.get(name);
    return n ? { ...n.view(), ...(n.record.ipv4 ? { ipv4: n.record.ipv4 } : {}) } : undefined;
  }

  /** The name of the node with this MAC or Pi serial, if any. */
  nodeNameBy(key: { mac?: string; serial?: string }): string | undefined {
    for (const n of this.nodes.values()) {
      if (key.mac !== undefined && (n.record.mac === key.mac || n.record.identity?.mac === key.mac)) return n.name;
      if (key.serial !== undefined && (n.record.serial === key.serial || n.record.identity?.serial === key.serial)) return n.name;
    }
    return undefined;
  }

  /** netboot saw an unknown PXE client with enrollment on: record it as pending approval. */
  enrollPending(client: { mac: string; serial?: string; vendorClass?: string; arch?: number }): string {
    const known = this.nodeNameBy({ mac: client.mac, ...(client.serial ? { serial: client.serial } : {}) });
    if (known) return known;
    const now = this.clock.now();
    const name = `pending-${client.mac.replace(/:/g, '')}`;
    const node = new RuntimeNode(
      this.newRecord(name, 'netboot', now, {
        mac: client.mac,
        ...(client.serial ? { serial: client.serial } : {}),
        state: 'pending-approval',
        stateReason: `PXE client ${client.vendorClass ?? ''}`.trim(),
      }),
    );
    this.nodes.set(name, node);
    this.nodeEvent(
      node,
      'enroll',
      `seen by netboot (${client.vendorClass ?? 'PXE'}${client.arch !== undefined ? `, arch ${client.arch}` : ''}); waiting for approval`,
      'netboot',
      now,
    );
    this.persistNode(node, now);
    this.emit('node', node.view());
    return name;
  }

  runningOn(name: string): { attemptId: number; jobId: number; startedAt: number }[] {
    const node = this.runtime(name);
    return [...node.running]
      .map((id) => this.running.get(id))
      .filter((r): r is RunningAttempt => !!r)
      .map((r) => ({ attemptId: r.attemptId, jobId: r.jobId, startedAt: r.startedAt }));
  }

  nodeEvents(name: string, limit?: number): NodeEvent[] {
    this.runtime(name);
    return this.store.listNodeEvents(name, limit);
  }

  /** Operator changes: slots and labels (kept over inventory values from then on). */
  patchNode(name: string, patch: { slots?: number; labels?: Record<string, string> }, actor = 'admin'): NodeView {
    const node = this.runtime(name);
    const now = this.clock.now();
    const changes: string[] = [];
    if (patch.slots !== undefined && patch.slots !== node.record.slots) {
      node.update({ slots: patch.slots, slotsPatched: true });
      changes.push(`slots=${patch.slots}`);
      node.link?.send({ type: 'set-slots', slots: node.slots });
    }
    if (patch.labels !== undefined) {
      node.update({ labels: { ...patch.labels }, labelsPatched: true });
      changes.push(
        `labels=${
          Object.entries(patch.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(',') || '(none)'
        }`,
      );
    }
    if (changes.length) {
      this.nodeEvent(node, 'patch', changes.join(' '), actor, now);
      this.persistNode(node, now);
      this.emit('node', node.view());
      this.requestSchedule();
    }
    return node.view();
  }

  /** Sends a frame to a node's agent (browser shell relay); false when the agent is not connected. */
  sendToNode(name: string, message: DispatcherMessage): boolean {
    const link = this.runtime(name).link;
    if (!link) return false;
    link.send(message);
    return true;
  }

  /** Records an operator-side node event (e.g. a browser shell session: who, when). */
  recordNodeEvent(name: string, kind: string, message: string, actor: string): void {
    this.nodeEvent(this.runtime(name), kind, message, actor, this.clock.now());
  }

  // ── node lifecycle (operator actions; the NodeLifecycle drives power and recovery) ──

  /** Moves a node to another state (checked against the transition table) and records why. */
  transitionNode(name: string, to: NodeState, reason: string, actor: string): NodeView {
    const node = this.runtime(name);
    this.setState(node, to, reason, actor);
    this.persistNode(node, this.clock.now());
    this.emit('node', node.view());
    if (acceptsWork(to)) this.requestSchedule();
    return node.view();
  }

  /** The node's power settings (driver + keys) and model, for the lifecycle. */
  nodePowerConfig(name: string): { power?: Readonly<Record<string, unknown>>; mac?: string; model?: string } {
    const r = this.runtime(name).record;
    return { ...(r.power ? { power: r.power } : {}), ...(r.mac ? { mac: r.mac } : {}), ...(r.model ? { model: r.model } : {}) };
  }

  /**
   * Drain: take no new jobs. Graceful lets running jobs finish (then `drained`); immediate
   * stops them on the node and requeues them at once, outside their retry cap.
   */
  drain(name: string, options: { immediate?: boolean } = {}, actor = 'admin'): NodeView {
    const node = this.runtime(name);
    const now = this.clock.now();
    // The intent outlives disconnects, reboots and master restarts until undrain.
    node.update({ drainRequested: true });
    if (node.state !== 'draining' && node.state !== 'drained')
      this.setState(node, node.running.size ? 'draining' : 'drained', options.immediate ? 'drain (immediate)' : 'drain (finish running jobs)', actor);
    if (options.immediate && node.running.size) {
      const ids = [...node.running];
      for (const id of ids) node.link?.send({ type: 'cancel', attemptId: id, reason: 'node drained' });
      this.failAttempts(node, ids, 'abandoned', 'node drained', now);
    }
    if (node.state === 'draining' && node.running.size === 0) this.setState(node, 'drained', 'drain finished: no jobs left', 'system');
    this.persistNode(node, now);
    this.emit('node', node.view());
    return node.view();
  }

  /** Stops a node's running attempts and requeues their jobs at once, outside their retry cap (power off, reboot). */
  abandonRunning(name: string, reason: string): number {
    const node = this.runtime(name);
    const ids = [...node.running];
    for (const id of ids) node.link?.send({ type: 'cancel', attemptId: id, reason });
    this.failAttempts(node, ids, 'abandoned', reason, this.clock.now());
    return ids.length;
  }

  undrain(name: string, actor = 'admin'): NodeView {
    const node = this.runtime(name);
    if (node.record.drainRequested) {
      node.update({ drainRequested: false });
      this.persistNode(node, this.clock.now());
    }
    if (node.state !== 'draining' && node.state !== 'drained') return node.view();
    return this.transitionNode(name, node.link ? 'online' : 'offline', 'undrain', actor);
  }

  /** Maintenance: no jobs and no automatic recovery until it is ended. */
  setMaintenance(name: string, on: boolean, actor = 'admin'): NodeView {
    const node = this.runtime(name);
    if (on) {
      if (node.state === 'maintenance') return node.view();
      return this.transitionNode(name, 'maintenance', 'maintenance started', actor);
    }
    if (node.state !== 'maintenance') return node.view();
    return this.transitionNode(name, node.link ? 'online' : 'offline', 'maintenance ended', actor);
  }

  /** Sends a node-level command to the agent; false when it is not connected. */
  sendCommand(name: string, command: 'reboot' | 'identify' | 'shutdown', args?: Record<string, unknown>): boolean {
    const node = this.runtime(name);
    if (!node.link) return false;
    node.link.send({ type: 'command', command, ...(args ? { args } : {}) });
    return true;
  }

  /** Operator adds a node (or approves a pending one under a new name). */
  addNode(
    input: { name: string; mac?: string; serial?: string; model?: string; slots?: number; labels?: Record<string, string>; power?: Record<string, unknown> },
    actor = 'admin',
    approve?: string,
  ): NodeView {
    const now = this.clock.now();
    if (this.nodes.has(input.name) && input.name !== approve) throw new NodeExistsError(input.name);
    const pending = approve !== undefined ? this.runtime(approve) : undefined;
    if (pending && pending.state !== 'pending-approval') throw new IllegalTransitionError('node', pending.state, 'offline');
    const clash = this.nodeNameBy({ ...(input.mac ? { mac: input.mac } : {}), ...(input.serial ? { serial: input.serial } : {}) });
    if (clash && clash !== approve) throw new NodeExistsError(clash, 'MAC or serial');
    if (pending && approve !== input.name) {
      this.nodes.delete(approve!);
      this.store.deleteNode(approve!);
    }
    const record = this.newRecord(input.name, pending ? 'netboot' : 'api', now, {
      ...((input.mac ?? pending?.record.mac) ? { mac: input.mac ?? pending?.record.mac } : {}),
      ...((input.serial ?? pending?.record.serial) ? { serial: input.serial ?? pending?.record.serial } : {}),
      ...(input.model ? { model: input.model } : {}),
      ...(input.slots !== undefined ? { slots: input.slots, slotsPatched: true } : {}),
      labels: input.labels ?? {},
      ...(input.power ? { power: input.power } : {}),
    });
    const node = new RuntimeNode(record);
    this.nodes.set(input.name, node);
    this.setRemoved(input.name, false);
    this.nodeEvent(node, pending ? 'approved' : 'added', pending ? `approved (was ${approve})` : 'added through the API', actor, now);
    this.persistNode(node, now);
    this.emit('node', node.view());
    return node.view();
  }

  private removedNodes(): Set<string> {
    return new Set(JSON.parse(this.store.getMeta('removed-nodes') ?? '[]') as string[]);
  }

  private setRemoved(name: string, removed: boolean): void {
    const set = this.removedNodes();
    if (removed === set.has(name)) return;
    if (removed) set.add(name);
    else set.delete(name);
    this.store.setMeta('removed-nodes', JSON.stringify([...set]));
  }

  /** Removes a node (a pending one is thereby rejected). Its running attempts are stopped and requeued; its agent may not rejoin until it is added again. */
  removeNode(name: string, actor = 'admin'): void {
    const node = this.runtime(name);
    const now = this.clock.now();
    if (node.running.size) this.abandonRunning(name, 'node removed');
    node.link?.close(CloseCode.refused, 'node removed');
    this.setRemoved(name, true);
    this.storeRetry.forget(`node:${name}`);
    this.nodes.delete(name);
    this.store.deleteNode(name);
    this.store.addNodeEvent({ node: name, at: now, kind: 'removed', message: node.state === 'pending-approval' ? 'rejected' : 'removed', actor });
  }

  private setState(node: RuntimeNode, to: NodeState, reason: string, actor: string): void {
    const from = node.state;
    if (from === to) return;
    assertNodeTransition(from, to);
    const now = this.clock.now();
    node.update({ state: to, stateSince: now, stateReason: reason });
    this.nodeEvent(node, 'state', reason, actor, now, from, to);
    this.log.info({ node: node.name, from, to, reason }, 'node state changed');
  }

  private nodeEvent(node: RuntimeNode, kind: string, message: string, actor: string, at: number, from?: NodeState, to?: NodeState): void {
    const event: NodeEvent = { node: node.name, at, kind, message, actor, ...(from ? { from } : {}), ...(to ? { to } : {}) };
    this.storeRetry.run(undefined, () => this.store.addNodeEvent(event));
    this.emit('nodeEvent', event);
  }

  private persistNode(node: RuntimeNode, now: number): void {
    node.persistedAt = now;
    this.storeRetry.run(`node:${node.name}`, () => this.store.saveNode(node.record));
  }

  // ── boot events ──────────────────────────────────────────────────────────────────────

  /** Boot events from netboot (and the agent hello), joined to a node by MAC or serial. */
  recordBootEvent(event: BootEvent): void {
    let node = event.node;
    if (!node && (event.mac || event.serial)) {
      for (const n of this.nodes.values()) {
        if ((event.mac && n.record.mac === event.mac) || (event.serial && n.record.serial === event.serial)) {
          node = n.name;
          break;
        }
      }
    }
    const stored = node ? { ...event, node } : event;
    this.storeRetry.run(undefined, () => this.store.addBootEvent(stored));
    this.emit('bootEvent', stored);
  }

  bootEvents(query: { node?: string; mac?: string; serial?: string; limit?: number }) {
    return this.store.listBootEvents(query);
  }

  // ── overview ─────────────────────────────────────────────────────────────────────────

  overview() {
    const nodes = this.listNodes();
    const byState: Record<string, number> = {};
    let slots = 0;
    let busy = 0;
    for (const n of nodes) {
      byState[n.state] = (byState[n.state] ?? 0) + 1;
      if (n.connected) {
        slots += n.slots;
        busy += n.running;
      }
    }
    return {
      nodes: { total: nodes.length, byState, connected: nodes.filter((n) => n.connected).length },
      slots: { total: slots, busy },
      jobs: this.jobCounts(),
      queue: { ready: this.queue.readySize, delayed: this.queue.size - this.queue.readySize, byGroup: Object.fromEntries(this.queue.depthByGroup()) },
      staleResults: this.staleCount,
      strategy: this.strategy.name,
    };
  }

  /** The node's current health-aware placement (dispatcher/domain/health.ts). */
  nodePlacement(name: string): HealthPlacement {
    return this.placements.get(name) ?? healthPlacement(this.runtime(name).record.health, this.settings.health ?? DEFAULT_HEALTH_POLICY);
  }

  /** Re-evaluates placement after a heartbeat; a node event only when the decision changes. */
  private updatePlacement(node: RuntimeNode, now: number): void {
    const previous = this.placements.get(node.name) ?? HEALTHY;
    const next = healthPlacement(node.record.health, this.settings.health ?? DEFAULT_HEALTH_POLICY, previous);
    this.placements.set(node.name, next);
    if (!placementChanged(previous, next)) return;
    this.nodeEvent(node, 'placement', describePlacement(next), 'scheduler', now);
    this.log.info({ node: node.name, status: next.status, derate: next.derate, reasons: next.reasons }, 'node placement changed');
    if (previous.status === 'skipped') this.requestSchedule();
  }

  queueDepthByGroup(): Map<string, number> {
    return this.queue.depthByGroup();
  }

  /** Closes every agent link (master shutdown); the store is closed by its owner. */
  shutdown(): void {
    this.pump();
    for (const node of this.nodes.values()) {
      node.link?.close(CloseCode.shutdown, 'master shutting down');
      node.link = undefined;
    }
  }
}

/** Where a node goes when its agent connects. Operator-held states stay. */
function stateOnConnect(state: NodeState): NodeState {
  switch (state) {
    case 'maintenance':
    case 'draining':
    case 'drained':
    case 'quarantined':
      return state;
    default:
      return 'online';
  }
}

function resultReason(body: ResultBody): string | undefined {
  switch (body.outcome) {
    case 'succeeded':
      return undefined;
    case 'failed':
      return body.error ?? (body.signal ? `killed by ${body.signal}` : `exit code ${body.exitCode ?? '?'}`);
    case 'timed-out':
      return 'timed out';
    case 'cancelled':
      return 'cancelled';
    case 'rejected':
      return `rejected by the agent: ${body.error ?? 'no reason given'}`;
  }
}
