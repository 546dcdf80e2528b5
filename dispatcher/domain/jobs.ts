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

export interface NewJob {
  readonly name?: string;
  readonly spec: JobSpec;
  readonly priority: number;
  readonly group: string;
  /** How many times the job may be retried after a failed attempt. */
  readonly retries: number;
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
 * What the job becomes when its current attempt ends in `attemptState`.
 * Failures of any kind (non-zero exit, timeout, lost node, rejection) retry within the cap.
 */
export function jobAfterAttempt(
  job: Pick<Job, 'attempts' | 'retries'> & { readonly nodeLosses?: number; readonly abandons?: number },
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
  if (tries <= job.retries) {
    return { state: 'queued', availableAt: now + backoffMs(tries, policy), reason: why };
  }
  return { state: 'failed', reason: job.retries > 0 ? `${why} (after ${tries} attempts)` : why };
}
