/**
 * In-memory Store: same semantics as the SQLite one (the conformance suite says so), used
 * by fast unit tests and the dispatch benchmark's baseline.
 */
import type { BootEvent } from '../../netboot/boot-event.ts';
import { queuedJob, type Attempt, type Job, type JobState, type NewJob } from '../domain/jobs.ts';
import type { NodeEvent, NodeRecord } from '../domain/nodes.ts';
import {
  clampLimit,
  emptyCounts,
  type Alert,
  type AttemptEnd,
  type BootEventQuery,
  type JobQuery,
  type PowerOp,
  type PowerOpAction,
  type PowerOpState,
  type PrunedJobs,
  type StaleResult,
  type Store,
} from './store.ts';

const clone = <T>(x: T): T => structuredClone(x);

export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly jobs = new Map<number, Job>();
  private readonly attempts = new Map<number, Attempt>();
  private readonly attemptsByJob = new Map<number, number[]>();
  private readonly stale: StaleResult[] = [];
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly nodeEvents: NodeEvent[] = [];
  private readonly bootEvents: (BootEvent & { id: number })[] = [];
  private lastBootEventId = 0;
  private readonly meta = new Map<string, string>();
  private readonly removed = new Map<string, number>();
  private readonly powerOps: PowerOp[] = [];
  private readonly alerts: Alert[] = [];
  private nextJobId = 1;
  private nextAttemptId = 1;
  private nextEventId = 1;

  /** No rollback in memory: callers only write after their checks, as with SQLite. */
  transaction<T>(fn: () => T): T {
    return fn();
  }

  insertJobs(jobs: readonly NewJob[], now: number): Job[] {
    return jobs.map((j) => {
      const job = queuedJob(clone(j), this.nextJobId++, now);
      this.jobs.set(job.id, job);
      return clone(job);
    });
  }

  getJob(id: number): Job | undefined {
    const j = this.jobs.get(id);
    return j && clone(j);
  }

  listJobs(q: JobQuery): { jobs: Job[]; total: number } {
    const states = q.state === undefined ? undefined : new Set(Array.isArray(q.state) ? q.state : [q.state]);
    const all = [...this.jobs.values()]
      .filter((j) => (!states || states.has(j.state)) && (q.group === undefined || j.group === q.group) && (q.node === undefined || j.node === q.node))
      .sort((a, b) => b.id - a.id);
    const offset = Math.max(0, q.offset ?? 0);
    return { jobs: all.slice(offset, offset + clampLimit(q.limit)).map(clone), total: all.length };
  }

  countJobsByState(): Record<JobState, number> {
    const c = emptyCounts();
    for (const j of this.jobs.values()) c[j.state]++;
    return c;
  }

  queuedJobs(): Job[] {
    return [...this.jobs.values()]
      .filter((j) => j.state === 'queued')
      .sort((a, b) => a.id - b.id)
      .map(clone);
  }

  startAttempts(assignments: readonly { jobId: number; node: string }[], now: number): { jobId: number; attempt: Attempt }[] {
    const out: { jobId: number; attempt: Attempt }[] = [];
    for (const { jobId, node } of assignments) {
      const j = this.jobs.get(jobId);
      if (!j || j.state !== 'queued') continue;
      const attempt: Attempt = { id: this.nextAttemptId++, jobId, node, state: 'running', startedAt: now };
      const job: Job = {
        ...j,
        state: 'running',
        attempts: j.attempts + 1,
        startedAt: j.startedAt ?? now,
        currentAttemptId: attempt.id,
        lastAttemptId: attempt.id,
        node,
      };
      this.jobs.set(jobId, job);
      this.attempts.set(attempt.id, attempt);
      const list = this.attemptsByJob.get(jobId) ?? [];
      list.push(attempt.id);
      this.attemptsByJob.set(jobId, list);
      out.push({ jobId, attempt: clone(attempt) });
    }
    return out;
  }

  endAttempt(end: AttemptEnd): boolean {
    const a = this.attempts.get(end.attemptId);
    if (!a || a.state !== 'running' || a.jobId !== end.jobId) return false;
    const j = this.jobs.get(a.jobId);
    if (!j || j.currentAttemptId !== a.id || j.state !== 'running') return false;
    this.attempts.set(a.id, {
      ...a,
      state: end.state,
      endedAt: end.at,
      ...(end.reason !== undefined ? { reason: end.reason } : {}),
      ...(end.result !== undefined ? { result: clone(end.result) } : {}),
    });
    const { currentAttemptId: _drop, ...current } = j;
    const rest = { ...current, nodeLosses: j.nodeLosses + (end.state === 'node-lost' ? 1 : 0), abandons: j.abandons + (end.state === 'abandoned' ? 1 : 0) };
    if (end.job.state === 'queued') {
      this.jobs.set(j.id, { ...rest, state: 'queued', availableAt: end.job.availableAt, reason: end.job.reason });
    } else {
      this.jobs.set(j.id, { ...rest, state: end.job.state, finishedAt: end.at, ...(end.job.reason !== undefined ? { reason: end.job.reason } : {}) });
    }
    return true;
  }

  endAttempts(ends: readonly AttemptEnd[]): boolean[] {
    return this.transaction(() => ends.map((end) => this.endAttempt(end)));
  }

  getAttempt(id: number): Attempt | undefined {
    const a = this.attempts.get(id);
    return a && clone(a);
  }

  listAttempts(jobId: number): Attempt[] {
    return (this.attemptsByJob.get(jobId) ?? []).map((id) => clone(this.attempts.get(id)!));
  }

  runningAttempts(): Attempt[] {
    return [...this.attempts.values()].filter((a) => a.state === 'running').map(clone);
  }

  cancelQueuedJob(id: number, reason: string, now: number): boolean {
    const j = this.jobs.get(id);
    if (!j || j.state !== 'queued') return false;
    this.jobs.set(id, { ...j, state: 'cancelled', finishedAt: now, reason, cancelRequested: true });
    return true;
  }

  markCancelRequested(id: number): boolean {
    const j = this.jobs.get(id);
    if (!j || j.state !== 'running') return false;
    this.jobs.set(id, { ...j, cancelRequested: true });
    return true;
  }

  recordStaleResult(stale: StaleResult): void {
    this.stale.push(clone(stale));
  }
  countStaleResults(): number {
    return this.stale.length;
  }

  saveNode(node: NodeRecord): void {
    this.nodes.set(node.name, clone(node));
  }
  getNode(name: string): NodeRecord | undefined {
    const n = this.nodes.get(name);
    return n && clone(n);
  }
  listNodes(): NodeRecord[] {
    return [...this.nodes.values()].sort((a, b) => a.name.localeCompare(b.name)).map(clone);
  }
  deleteNode(name: string): boolean {
    return this.nodes.delete(name);
  }
  addNodeEvent(event: NodeEvent): void {
    this.nodeEvents.push({ ...clone(event), id: this.nextEventId++ });
  }
  listNodeEvents(node: string, limit?: number): NodeEvent[] {
    return this.nodeEvents
      .filter((e) => e.node === node)
      .reverse()
      .slice(0, clampLimit(limit))
      .map(clone);
  }

  addBootEvent(event: BootEvent): void {
    this.bootEvents.push({ ...clone(event), id: ++this.lastBootEventId });
  }
  listBootEvents(q: BootEventQuery): (BootEvent & { id: number })[] {
    return this.bootEvents
      .filter(
        (e) => (q.node === undefined || e.node === q.node) && (q.mac === undefined || e.mac === q.mac) && (q.serial === undefined || e.serial === q.serial),
      )
      .reverse()
      .slice(0, clampLimit(q.limit))
      .map(clone);
  }

  insertPowerOp(op: { node: string; driver: string; action: PowerOpAction; actor: string; at: number }): PowerOp {
    const row: PowerOp = {
      id: this.powerOps.length + 1,
      node: op.node,
      driver: op.driver,
      action: op.action,
      state: 'pending',
      actor: op.actor,
      requestedAt: op.at,
    };
    this.powerOps.push(row);
    return clone(row);
  }
  completePowerOp(id: number, end: { state: Exclude<PowerOpState, 'pending'>; at: number; verified: boolean; detail?: string }): void {
    const i = id - 1;
    const op = this.powerOps[i];
    if (!op || op.state !== 'pending') return;
    this.powerOps[i] = { ...op, state: end.state, completedAt: end.at, verified: end.verified, ...(end.detail !== undefined ? { detail: end.detail } : {}) };
  }
  unfinishedPowerOps(): PowerOp[] {
    return this.powerOps.filter((o) => o.state === 'pending').map(clone);
  }
  listPowerOps(q: { node?: string; limit?: number }): PowerOp[] {
    return this.powerOps
      .filter((o) => q.node === undefined || o.node === q.node)
      .reverse()
      .slice(0, clampLimit(q.limit))
      .map(clone);
  }

  raiseAlert(a: { kind: string; node?: string; severity: Alert['severity']; message: string; at: number }): Alert {
    const open = this.alerts.find((x) => x.kind === a.kind && x.node === a.node && x.resolvedAt === undefined);
    if (open) return clone(open);
    const row: Alert = {
      id: this.alerts.length + 1,
      kind: a.kind,
      ...(a.node !== undefined ? { node: a.node } : {}),
      severity: a.severity,
      message: a.message,
      raisedAt: a.at,
    };
    this.alerts.push(row);
    return clone(row);
  }
  resolveAlert(kind: string, node: string | undefined, at: number): boolean {
    const i = this.alerts.findIndex((x) => x.kind === kind && x.node === node && x.resolvedAt === undefined);
    if (i < 0) return false;
    this.alerts[i] = { ...this.alerts[i]!, resolvedAt: at };
    return true;
  }
  listAlerts(q: { open?: boolean; limit?: number }): Alert[] {
    return this.alerts
      .filter((a) => q.open === undefined || (a.resolvedAt === undefined) === q.open)
      .reverse()
      .slice(0, clampLimit(q.limit))
      .map(clone);
  }

  capHistory(caps: { bootEvents: number; nodeEvents: number }): number {
    const over = (list: unknown[], keep: number) => list.splice(0, Math.max(0, list.length - keep)).length;
    return over(this.bootEvents, caps.bootEvents) + over(this.nodeEvents, caps.nodeEvents);
  }

  pruneHistory(before: number): number {
    let n = 0;
    const keep = <T>(list: T[], old: (x: T) => boolean): void => {
      const kept = list.filter((x) => !old(x));
      n += list.length - kept.length;
      list.splice(0, list.length, ...kept);
    };
    keep(this.bootEvents, (e) => e.at < before);
    keep(this.nodeEvents, (e) => e.at < before);
    keep(this.stale, (e) => e.at < before);
    keep(this.alerts, (a) => a.resolvedAt !== undefined && a.resolvedAt < before);
    return n;
  }

  pruneFinishedJobs(before: number, limit: number): PrunedJobs {
    const old = [...this.jobs.values()]
      .filter((j) => (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled') && j.finishedAt !== undefined && j.finishedAt < before)
      .sort((a, b) => a.id - b.id)
      .slice(0, Math.max(1, Math.floor(limit)));
    const artifacts = new Set<string>();
    let attempts = 0;
    for (const j of old) {
      for (const id of this.attemptsByJob.get(j.id) ?? []) {
        for (const a of this.attempts.get(id)?.result?.artifacts ?? []) artifacts.add(a.sha256);
        this.attempts.delete(id);
        attempts++;
      }
      this.attemptsByJob.delete(j.id);
      this.jobs.delete(j.id);
    }
    const gone = new Set(old.map((j) => j.id));
    this.stale.splice(0, this.stale.length, ...this.stale.filter((x) => x.jobId === undefined || !gone.has(x.jobId)));
    return { jobs: old.length, attempts, artifacts: [...artifacts] };
  }

  artifactsNamed(shas: ReadonlySet<string>, afterId: number, limit: number): { named: string[]; lastId: number } {
    const rows = [...this.attempts.values()]
      .filter((a) => a.id > afterId)
      .sort((a, b) => a.id - b.id)
      .slice(0, Math.max(1, Math.floor(limit)));
    const named = new Set<string>();
    for (const a of rows) for (const x of a.result?.artifacts ?? []) if (shas.has(x.sha256)) named.add(x.sha256);
    return { named: [...named], lastId: rows.length < limit ? 0 : rows[rows.length - 1]!.id };
  }

  setNodeRemoved(name: string, removed: boolean, at: number): void {
    if (removed) this.removed.set(name, at);
    else this.removed.delete(name);
  }
  isNodeRemoved(name: string): boolean {
    return this.removed.has(name);
  }
  listRemovedNodes(): string[] {
    return [...this.removed.keys()].sort();
  }

  getMeta(key: string): string | undefined {
    return this.meta.get(key);
  }
  setMeta(key: string, value: string): void {
    this.meta.set(key, value);
  }

  close(): void {}
}
