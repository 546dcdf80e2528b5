/**
 * What every collaborator of the Dispatcher shares: its dependencies, the scheduling settings,
 * the in-memory queue and running attempts, the outbox of frames to send after the pump's
 * commit, and the (guarded) event emitter. State only — behaviour lives in the collaborators.
 */
import type { Clock } from '../../common/clock.ts';
import type { StrategyName } from '../../common/config.ts';
import type { Logger } from '../../common/logger.ts';
import type { DispatcherMessage, JobSpec, Requirements, ResultBody } from '../../common/protocol.ts';
import type { Inventory } from '../../inventory/inventory.ts';
import type { HealthPolicy } from '../domain/health.ts';
import { JobQueue } from '../domain/job-queue.ts';
import type { Job, NewJob, RetryCause, RetryPolicy } from '../domain/jobs.ts';
import { createStrategy, type Strategy } from '../domain/strategies.ts';
import type { DispatcherEvents } from '../events.ts';
import type { AgentLink } from '../node-runtime.ts';
import type { TextTailBuffer } from '../../common/tail-buffers.ts';
import type { AsyncStore } from '../store/store.ts';
import { StoreRetry } from '../store-retry.ts';

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
  readonly store: AsyncStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly scheduler: SchedulerSettings;
  /** Node tokens are derived from it. */
  readonly clusterSecret: string;
  readonly inventory?: Inventory;
  readonly random?: () => number;
  /** Poison-job guard: fail (not retry) a job after this many attempts died with their node (0/absent = off). */
  readonly poisonAfterNodeLosses?: number;
  /** Bounds on what unauthenticated or agent-driven input may write (`limits:` in the config; defaults in core/boot-events.ts and core/node-commands.ts). */
  readonly limits?: Partial<HistoryLimits & { maxPendingNodes: number; unconfiguredSlotsCap: number }>;
  /** Refuses new work while the data disk is low (dispatcher/disk-watch.ts); absent = never. */
  readonly storage?: { assertWritable(): void };
  /** Coalesces scheduling and result commits; defaults to `setImmediate`. */
  readonly defer?: (fn: () => void) => void;
}

export interface HistoryLimits {
  readonly bootEventCoalesceMs: number;
  readonly maxBootEvents: number;
  readonly maxNodeEvents: number;
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
export interface RunningAttempt {
  readonly attemptId: number;
  readonly jobId: number;
  readonly node: string;
  readonly startedAt: number;
  /** The job as it is while this attempt runs (kept so ending it needs no read). */
  job: Job;
  output?: { stdout: TextTailBuffer; stderr: TextTailBuffer };
}

export interface PendingResult {
  readonly node: string;
  readonly link: AgentLink;
  readonly body: ResultBody;
}

/** A submit waiting for the next pump's transaction (job-commands.ts → pump.ts). */
export interface PendingSubmit {
  readonly jobs: readonly NewJob[];
  resolve(jobs: Job[]): void;
  reject(e: unknown): void;
}

export type Emit = <K extends keyof DispatcherEvents>(event: K, ...args: DispatcherEvents[K]) => boolean;

export class DispatcherContext {
  readonly store: AsyncStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings: SchedulerSettings;
  readonly retryPolicy: RetryPolicy;
  readonly strategy: Strategy;
  private readonly defer: (fn: () => void) => void;
  queue = new JobQueue<Job>();
  readonly running = new Map<number, RunningAttempt>();
  /** Frames to send once the current pump's transaction has committed. */
  outbox: [AgentLink, DispatcherMessage][] = [];
  /**
   * Submits not yet written: the next pump inserts them in its transaction (group commit — the
   * submits of one event-loop turn, or of the time one pump took, share one commit), and each is
   * answered once that commit is durable.
   */
  submits: PendingSubmit[] = [];
  /** Jobs handed out by the pump in flight, not yet committed; a cancel meanwhile is noted here. */
  readonly handingOut = new Map<number, { cancel: string | undefined }>();
  /** Nodes removed by an operator (the store's list, loaded at start): their agents are refused. */
  readonly removed = new Set<string>();
  private pumpRequested = false;
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;
  /** A scheduling pass that failed outside its own commit handling: tick() asks again. */
  retryPump = false;

  /**
   * A failed commit's resync has not completed: the in-memory view (running attempts, queue) is
   * not the store's. Every pump resyncs first until one succeeds; the failed commit's node failures are
   * claimed again by the resync that succeeds (Results.retryFailed).
   */
  resyncDue = false;
  /**
   * Links whose hello came while resyncDue: it was not reconciled against a view that the resync
   * is replacing (no abandons, no orphans); the resync that succeeds closes them, and their agents
   * say hello again to the rebuilt view.
   */
  readonly hellosDuringResync = new Set<AgentLink>();
  /** Handler-side store writes that failed (disk full, busy) are kept here and retried from tick(). */
  readonly storeRetry: StoreRetry;

  constructor(
    readonly deps: DispatcherDeps,
    /** The facade's guarded emit (a throwing listener is logged, never breaks a commit). */
    readonly emit: Emit,
    /** Runs one pump (pump.ts); never two at once (pumpNow). */
    private readonly runPump: () => Promise<void>,
  ) {
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
      failed: (pending, e) => emit('storeHealth', { ok: false, pending, message: e instanceof Error ? e.message : String(e) }),
      recovered: () => emit('storeHealth', { ok: true, pending: 0 }),
    });
  }

  get lostAfterMs(): number {
    return this.settings.heartbeatMs * this.settings.missedHeartbeats;
  }

  /**
   * Everything that writes on the hot path happens in one "pump" per event-loop turn: the
   * pending results are committed, then queued jobs are handed out, all in one transaction;
   * acks and assignments go out only after it has committed.
   */
  requestSchedule(): void {
    if (this.pumpRequested) return;
    this.pumpRequested = true;
    this.defer(() => {
      this.pumpRequested = false;
      void this.pumpNow();
    });
  }

  /**
   * Runs a pump now, or — when one is in flight — once more after it (requests made meanwhile
   * coalesce into that one follow-up). Resolves when no pump is in flight.
   */
  pumpNow(): Promise<void> {
    this.pumpAgain = true;
    this.pumping ??= (async () => {
      try {
        for (let i = 0; this.pumpAgain && i < 1_000_000; i++) {
          this.pumpAgain = false;
          try {
            await this.runPump();
          } catch (e) {
            // The pump handles a failed commit itself; this is its resync's read failing too.
            this.log.error({ err: e }, 'scheduling pass failed; retried on the next tick');
            this.retryPump = true;
          }
        }
      } finally {
        this.pumping = undefined;
        // the loop's bound was reached with a request still open: it is not dropped
        if (this.pumpAgain) this.requestSchedule();
      }
    })();
    return this.pumping;
  }

  /** Resolves when no pump is requested or in flight and every handler-side write was tried (tests, shutdown). */
  async idle(): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      if (this.pumpRequested) {
        this.pumpRequested = false;
        void this.pumpNow();
      }
      if (!this.pumping && this.storeRetry.quiet) return;
      await this.pumping;
      await this.storeRetry.idle();
    }
  }
}
