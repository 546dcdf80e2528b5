/**
 * Jobs and attempts: states, the transition tables, and the pure rules for what happens
 * after an attempt ends. No I/O, no clock: `now` is passed in.
 */
import type { JobSpec, Requirements } from '../../common/protocol.ts';
import { IllegalTransitionError } from './errors.ts';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Allowed job transitions. `running → queued` is a retry or a requeue (node lost). */
export const JOB_TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ['running', 'cancelled'],
  running: ['succeeded', 'failed', 'cancelled', 'queued'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export const ATTEMPT_STATES = ['running', 'succeeded', 'failed', 'timed-out', 'cancelled', 'rejected', 'node-lost', 'abandoned'] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];

export const ATTEMPT_TRANSITIONS: Readonly<Record<AttemptState, readonly AttemptState[]>> = {
  running: ['succeeded', 'failed', 'timed-out', 'cancelled', 'rejected', 'node-lost', 'abandoned'],
  succeeded: [],
  failed: [],
  'timed-out': [],
  cancelled: [],
  rejected: [],
  'node-lost': [],
  abandoned: [],
};

export const isTerminalJob = (s: JobState): boolean => JOB_TRANSITIONS[s].length === 0;

export function assertJobTransition(from: JobState, to: JobState): void {
  if (!JOB_TRANSITIONS[from].includes(to)) throw new IllegalTransitionError('job', from, to);
}

export function assertAttemptTransition(from: AttemptState, to: AttemptState): void {
  if (!ATTEMPT_TRANSITIONS[from].includes(to)) throw new IllegalTransitionError('attempt', from, to);
}

/**
 * What may send a job back to the queue, within its `retries` cap. `failure`: the job ran and
 * failed (non-zero exit, a function that threw); `timeout`: it ran past its timeout; `node-lost`:
 * its node died under it (also bounded by the poison-job guard); `rejected`: the agent could not
 * run it (no runtime for its kind, no free slot). Attempts an operator or the master took away
 * (`abandoned`: drain, reboot) are always requeued and never count.
 */
export const RETRY_CAUSES = ['failure', 'timeout', 'node-lost', 'rejected'] as const;
export type RetryCause = (typeof RETRY_CAUSES)[number];
/**
 * Like Slurm's requeue and dispy's resubmission of a dead node's jobs: the node's fault is
 * retried, the job's own (a deterministic `exit 3`) is not, unless the submitter asks.
 */
export const DEFAULT_RETRY_ON: readonly RetryCause[] = ['node-lost', 'rejected'];

const RETRY_CAUSE_OF: Partial<Record<AttemptState, RetryCause>> = {
  failed: 'failure',
  'timed-out': 'timeout',
  'node-lost': 'node-lost',
  rejected: 'rejected',
};

export interface NewJob {
  readonly name?: string;
  readonly spec: JobSpec;
  readonly priority: number;
  readonly group: string;
  /** How many times the job may be retried after an attempt whose end is in `retryOn`. */
  readonly retries: number;
  /** Which attempt ends are retried; absent = DEFAULT_RETRY_ON. */
  readonly retryOn?: readonly RetryCause[];
  readonly timeoutMs?: number;
  readonly requirements: Requirements;
}

export interface Job extends NewJob {
  readonly id: number;
  readonly state: JobState;
  /** Attempts started so far. */
  readonly attempts: number;
  readonly submittedAt: number;
  /** Not before this time (retry backoff). */
  readonly availableAt: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  /** The attempt whose result will be accepted (the fencing token), while running. */
  readonly currentAttemptId?: number;
  /** The last attempt, whose result is the job's result once the job has ended. */
  readonly lastAttemptId?: number;
  readonly node?: string;
  /** Why the job is failed/cancelled, or why it was last requeued. */
  readonly reason?: string;
  /** Cancel was asked while running: whatever the attempt's end, the job ends cancelled. */
  readonly cancelRequested: boolean;
  /** Attempts of this job that ended because their node was lost (the poison-job guard counts them). */
  readonly nodeLosses: number;
  /** Attempts taken away by an operator or the master (drain, power, reboot, lost assign): not counted as tries. */
  readonly abandons: number;
}

export interface AttemptResult {
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  readonly value?: unknown;
  readonly error?: string;
  readonly stdout?: string;
  readonly stderr?: string;
  readonly stdoutTruncated?: number;
  readonly stderrTruncated?: number;
  readonly durationMs?: number;
  readonly cpuMs?: number;
  readonly peakMemoryBytes?: number;
  /** Files the job wrote under $PICLUSTER_OUT (content-addressed on the master), and why some were left out. */
  readonly artifacts?: readonly { readonly name: string; readonly sha256: string; readonly sizeBytes: number }[];
  readonly artifactsNote?: string;
}

export interface Attempt {
  readonly id: number;
  readonly jobId: number;
  readonly node: string;
  readonly state: AttemptState;
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly reason?: string;
  readonly result?: AttemptResult;
}

export interface RetryPolicy {
  readonly backoffMs: number;
  readonly backoffMaxMs: number;
  /**
   * Poison-job guard: a job whose attempts died together with their node this many times is
   * failed instead of retried, so it does not take down more nodes (0 = off).
   */
  readonly poisonAfterNodeLosses?: number;
}

/** Exponential backoff before attempt n+1 (n ≥ 1 attempts made): base·2^(n-1), capped. */
export function backoffMs(attemptsMade: number, policy: RetryPolicy): number {
  if (policy.backoffMs <= 0) return 0;
  const exp = Math.min(30, Math.max(0, attemptsMade - 1));
  return Math.min(policy.backoffMaxMs, policy.backoffMs * 2 ** exp);
}

export type JobAfterAttempt =
  | { readonly state: 'succeeded' | 'failed' | 'cancelled'; readonly reason?: string }
  | { readonly state: 'queued'; readonly availableAt: number; readonly reason: string };

/**
 * What the job becomes when its current attempt ends in `attemptState`: an end whose cause is in
 * the job's `retryOn` (default: node lost, rejected) is retried within the `retries` cap; any other
 * end is final.
 */
export function jobAfterAttempt(
  job: Pick<Job, 'attempts' | 'retries'> & { readonly nodeLosses?: number; readonly abandons?: number; readonly retryOn?: readonly RetryCause[] },
  attemptState: Exclude<AttemptState, 'running'>,
  now: number,
  policy: RetryPolicy,
  reason?: string,
): JobAfterAttempt {
  if (attemptState === 'succeeded') return { state: 'succeeded' };
  if (attemptState === 'cancelled') return { state: 'cancelled', reason: reason ?? 'cancelled' };
  const losses = (job.nodeLosses ?? 0) + (attemptState === 'node-lost' ? 1 : 0);
  if (attemptState === 'node-lost' && policy.poisonAfterNodeLosses && losses >= policy.poisonAfterNodeLosses) {
    return { state: 'failed', reason: `poison job: ${losses} of its attempts died together with their node; not retried` };
  }
  const why = reason ?? attemptState;
  if (attemptState === 'abandoned') return { state: 'queued', availableAt: now, reason: why };
  const tries = job.attempts - (job.abandons ?? 0);
  const cause = RETRY_CAUSE_OF[attemptState];
  const retryable = cause !== undefined && (job.retryOn ?? DEFAULT_RETRY_ON).includes(cause);
  if (!retryable) return { state: 'failed', reason: tries > 1 ? `${why} (after ${tries} attempts)` : why };
  if (tries <= job.retries) {
    return { state: 'queued', availableAt: now + backoffMs(tries, policy), reason: why };
  }
  return { state: 'failed', reason: job.retries > 0 ? `${why} (after ${tries} attempts)` : why };
}

/** A job as a store has just inserted it (state queued, no attempt yet), in the shape a row reads back as; `j`'s objects are used as they are (a store that must not share them clones `j` first). */
export function queuedJob(j: NewJob, id: number, now: number): Job {
  return {
    id,
    ...(j.name !== undefined ? { name: j.name } : {}),
    spec: j.spec,
    priority: j.priority,
    group: j.group,
    retries: j.retries,
    ...(j.retryOn !== undefined ? { retryOn: j.retryOn } : {}),
    ...(j.timeoutMs !== undefined ? { timeoutMs: j.timeoutMs } : {}),
    requirements: j.requirements,
    state: 'queued',
    attempts: 0,
    submittedAt: now,
    availableAt: now,
    cancelRequested: false,
    nodeLosses: 0,
    abandons: 0,
  };
}
