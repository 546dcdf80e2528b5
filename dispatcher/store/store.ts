/**
 * The store speaks the domain's language; only `store/` knows SQL. `Store` is the synchronous
 * contract of the embedded engines (SQLite, in memory); `AsyncStore` is its Promise-returning
 * twin, the contract every engine meets (PostgreSQL natively, the embedded ones through
 * `asyncStore()` in async-adapter.ts). All pass one conformance suite (`conformance.ts`).
 *
 * The Dispatcher is the only writer. Operations that must be atomic (starting attempts,
 * ending one together with its job) are single calls here; ending an attempt is a
 * compare-and-set on "this attempt is running and is its job's current attempt", so a
 * stale or duplicate result can never be recorded twice.
 */
import type { BootEvent } from '../../netboot/boot-event.ts';
import type { Attempt, AttemptResult, AttemptState, Job, JobState, NewJob } from '../domain/jobs.ts';
import type { NodeEvent, NodeRecord } from '../domain/nodes.ts';

export interface JobQuery {
  readonly state?: JobState | readonly JobState[];
  readonly group?: string;
  readonly node?: string;
  /** Newest first; `limit` ≤ 1000. */
  readonly limit?: number;
  readonly offset?: number;
}

export interface AttemptEnd {
  readonly attemptId: number;
  /** The attempt's job (the caller knows it; saves a read). */
  readonly jobId: number;
  readonly state: Exclude<AttemptState, 'running'>;
  readonly at: number;
  readonly reason?: string;
  readonly result?: AttemptResult;
  /** What the job becomes. */
  readonly job:
    | { readonly state: 'succeeded' | 'failed' | 'cancelled'; readonly reason?: string }
    | { readonly state: 'queued'; readonly availableAt: number; readonly reason: string };
}

export interface StaleResult {
  readonly attemptId: number;
  readonly jobId?: number;
  readonly node?: string;
  /** `duplicate` (already recorded), `superseded` (not the current attempt), `unknown`. */
  readonly reason: string;
  readonly at: number;
}

export type PowerOpAction = 'on' | 'off' | 'cycle' | 'reboot';
export type PowerOpState = 'pending' | 'succeeded' | 'failed' | 'reconciled';

/** One journaled power action: written before it is sent, completed after verification. */
export interface PowerOp {
  readonly id: number;
  readonly node: string;
  readonly driver: string;
  readonly action: PowerOpAction;
  readonly state: PowerOpState;
  readonly actor: string;
  readonly requestedAt: number;
  readonly completedAt?: number;
  readonly verified?: boolean;
  readonly detail?: string;
}

export interface Alert {
  readonly id: number;
  /** `node-quarantined`, `circuit-breaker`, `power-manual`, `recovery-stuck`, … */
  readonly kind: string;
  readonly node?: string;
  readonly severity: 'warning' | 'critical';
  readonly message: string;
  readonly raisedAt: number;
  readonly resolvedAt?: number;
}

export interface BootEventQuery {
  readonly node?: string;
  readonly mac?: string;
  readonly serial?: string;
  readonly limit?: number;
}

export type StoreKind = 'sqlite' | 'memory' | 'postgres';

export interface Store {
  readonly kind: 'sqlite' | 'memory';

  /** Runs `fn` as one transaction (all or nothing); nested calls join the outer one. */
  transaction<T>(fn: () => T): T;

  /** Inserts jobs (state `queued`) in one transaction, returning them with ids, in order. */
  insertJobs(jobs: readonly NewJob[], now: number): Job[];
  getJob(id: number): Job | undefined;
  listJobs(query: JobQuery): { jobs: Job[]; total: number };
  countJobsByState(): Record<JobState, number>;
  /** Every queued job, oldest first (the scheduler's index is rebuilt from this at start). */
  queuedJobs(): Job[];

  /**
   * Starts one attempt per assignment in one transaction: the job goes queued → running,
   * `attempts` + 1, the attempt gets the next id. Jobs no longer queued are skipped.
   */
  startAttempts(assignments: readonly { jobId: number; node: string }[], now: number): { jobId: number; attempt: Attempt }[];
  /** Ends a running attempt and moves its job, atomically; false (nothing written) if the attempt is not running or not current. */
  endAttempt(end: AttemptEnd): boolean;
  /** `endAttempt` for each of `ends`, in order, in one transaction (the pump's results: one call, one round trip). */
  endAttempts(ends: readonly AttemptEnd[]): boolean[];
  getAttempt(id: number): Attempt | undefined;
  listAttempts(jobId: number): Attempt[];
  runningAttempts(): Attempt[];

  /** queued → cancelled; false if the job was not queued. */
  cancelQueuedJob(id: number, reason: string, now: number): boolean;
  /** Marks a running job so it ends `cancelled` whatever its attempt reports. */
  markCancelRequested(id: number): boolean;

  recordStaleResult(stale: StaleResult): void;
  countStaleResults(): number;

  saveNode(node: NodeRecord): void;
  getNode(name: string): NodeRecord | undefined;
  listNodes(): NodeRecord[];
  deleteNode(name: string): boolean;
  /** Nodes an operator removed: their agents may not rejoin until the node is added again. */
  setNodeRemoved(name: string, removed: boolean, at: number): void;
  isNodeRemoved(name: string): boolean;
  /** Every removed node's name (the dispatcher keeps them in memory to answer agent hellos). */
  listRemovedNodes(): string[];
  addNodeEvent(event: NodeEvent): void;
  listNodeEvents(node: string, limit?: number): NodeEvent[];

  addBootEvent(event: BootEvent): void;
  listBootEvents(query: BootEventQuery): (BootEvent & { id: number })[];

  /** Journals a power action before it is sent (state `pending`). */
  insertPowerOp(op: { node: string; driver: string; action: PowerOpAction; actor: string; at: number }): PowerOp;
  completePowerOp(id: number, end: { state: Exclude<PowerOpState, 'pending'>; at: number; verified: boolean; detail?: string }): void;
  unfinishedPowerOps(): PowerOp[];
  listPowerOps(query: { node?: string; limit?: number }): PowerOp[];

  /** Raises an alert unless one of the same kind for the same node is open; returns the open one. */
  raiseAlert(alert: { kind: string; node?: string; severity: Alert['severity']; message: string; at: number }): Alert;
  /** Resolves the open alert of this kind (and node); false if none was open. */
  resolveAlert(kind: string, node: string | undefined, at: number): boolean;
  listAlerts(query: { open?: boolean; limit?: number }): Alert[];

  /** Retention: deletes boot events, node events, stale-result records and resolved alerts older than `before`. */
  pruneHistory(before: number): number;
  /**
   * Job retention: deletes up to `limit` finished jobs (succeeded, failed, cancelled) that finished
   * before `before`, oldest id first, with their attempts (output is in their results) and stale-result
   * records, in one transaction. → counts, and the artifact blobs their results named (the caller
   * removes those no remaining attempt names: `artifactsNamed`).
   */
  pruneFinishedJobs(before: number, limit: number): PrunedJobs;
  /** Which of `shas` the results of attempts with id > `afterId` name (up to `limit` attempts scanned); `lastId` 0 when done. */
  artifactsNamed(shas: ReadonlySet<string>, afterId: number, limit: number): { named: string[]; lastId: number };
  /** Size caps: deletes the oldest boot events / node events beyond these row counts; returns rows deleted. */
  capHistory(caps: { bootEvents: number; nodeEvents: number }): number;

  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;

  close(): void;
}

type Async<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never;

/**
 * The asynchronous contract: every `Store` operation, returning a Promise, with the same meaning.
 * `transaction(fn)` runs `fn(tx)` as one transaction: every call on `tx` is part of it, it commits
 * when `fn`'s Promise resolves and rolls back when it rejects. Calls on the store itself made
 * while a transaction is open are not part of it (engines may make them wait for its end).
 */
export type AsyncStore = { readonly [K in Exclude<keyof Store, 'kind' | 'transaction'>]: Async<Store[K]> } & {
  readonly kind: StoreKind;
  transaction<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T>;
};

export interface PrunedJobs {
  readonly jobs: number;
  readonly attempts: number;
  readonly artifacts: readonly string[];
}

export const emptyCounts = (): Record<JobState, number> => ({ queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 });
export const clampLimit = (limit: number | undefined, fallback = 100): number => Math.max(1, Math.min(1000, Math.floor(limit ?? fallback)));
