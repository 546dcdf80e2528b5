import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from './errors.ts';
import {
  ATTEMPT_STATES,
  DEFAULT_RETRY_ON,
  JOB_STATES,
  JOB_TRANSITIONS,
  RETRY_CAUSES,
  assertJobTransition,
  backoffMs,
  jobAfterAttempt,
  type JobState,
  type RetryCause,
} from './jobs.ts';
import { NODE_STATES, NODE_TRANSITIONS, assertNodeTransition, canTransitionNode } from './nodes.ts';

const policy = { backoffMs: 1000, backoffMaxMs: 8000 };

describe('job transitions', () => {
  const allowed = JOB_STATES.flatMap((from) => JOB_STATES.map((to) => [from, to, JOB_TRANSITIONS[from].includes(to)] as [JobState, JobState, boolean]));
  it.each(allowed)('%s → %s allowed=%s', (from, to, ok) => {
    if (ok) expect(() => assertJobTransition(from, to)).not.toThrow();
    else expect(() => assertJobTransition(from, to)).toThrow(IllegalTransitionError);
  });
  it('terminal states have no way out', () => {
    for (const s of ['succeeded', 'failed', 'cancelled'] as const) expect(JOB_TRANSITIONS[s]).toEqual([]);
  });
});

const ALL: readonly RetryCause[] = RETRY_CAUSES;

describe('after an attempt ends', () => {
  it.each([
    // attempts made, retries, retryOn, attempt end, → job state, availableAt
    [1, 3, ALL, 'succeeded', 'succeeded', undefined],
    [1, 3, ALL, 'cancelled', 'cancelled', undefined],
    [1, 3, ALL, 'failed', 'queued', 1000],
    [2, 3, ALL, 'timed-out', 'queued', 2000],
    [3, 3, ALL, 'node-lost', 'queued', 4000],
    [4, 3, ALL, 'node-lost', 'failed', undefined],
    [1, 0, ALL, 'failed', 'failed', undefined],
    [9, 20, ALL, 'rejected', 'queued', 8000], // capped
    // the default: the node's fault is retried, the job's own is not
    [1, 3, undefined, 'failed', 'failed', undefined],
    [1, 3, undefined, 'timed-out', 'failed', undefined],
    [1, 3, undefined, 'node-lost', 'queued', 1000],
    [1, 3, undefined, 'rejected', 'queued', 1000],
    [4, 3, undefined, 'node-lost', 'failed', undefined],
    [1, 3, undefined, 'abandoned', 'queued', 0],
    [1, 3, undefined, 'succeeded', 'succeeded', undefined],
    // an explicit choice
    [1, 3, ['failure'], 'failed', 'queued', 1000],
    [1, 3, ['failure'], 'timed-out', 'failed', undefined],
    [1, 3, ['failure'], 'node-lost', 'failed', undefined],
    [1, 3, ['timeout'], 'timed-out', 'queued', 1000],
    [1, 3, [], 'rejected', 'failed', undefined],
    [1, 3, [], 'abandoned', 'queued', 0], // taken away by an operator: always requeued
  ] as const)('attempt %i of 1+%i, retryOn %j, ends %s → %s', (attempts, retries, retryOn, end, state, delay) => {
    const r = jobAfterAttempt({ attempts, retries, ...(retryOn ? { retryOn } : {}) }, end, 0, policy);
    expect(r.state).toBe(state);
    if (delay !== undefined) expect(r).toMatchObject({ availableAt: delay });
  });
  it('the default retries node losses and rejections only', () => {
    expect([...DEFAULT_RETRY_ON].sort()).toEqual(['node-lost', 'rejected']);
  });
  it('a failure that is not retried keeps its own reason, and counts earlier attempts', () => {
    expect(jobAfterAttempt({ attempts: 1, retries: 3 }, 'failed', 0, policy, 'exit code 3')).toEqual({ state: 'failed', reason: 'exit code 3' });
    expect(jobAfterAttempt({ attempts: 2, retries: 3 }, 'failed', 0, policy, 'exit code 3')).toEqual({
      state: 'failed',
      reason: 'exit code 3 (after 2 attempts)',
    });
  });
  it('the poison guard still caps node losses when they are retried', () => {
    const p = { ...policy, poisonAfterNodeLosses: 2 };
    expect(jobAfterAttempt({ attempts: 2, retries: 5, nodeLosses: 1 }, 'node-lost', 0, p).state).toBe('failed');
    expect(jobAfterAttempt({ attempts: 1, retries: 5, nodeLosses: 0 }, 'node-lost', 0, p).state).toBe('queued');
  });
  it('backoff doubles and caps', () => {
    expect([1, 2, 3, 4, 5, 40].map((n) => backoffMs(n, policy))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(backoffMs(3, { backoffMs: 0, backoffMaxMs: 0 })).toBe(0);
  });
  it('failed reason says how many attempts', () => {
    expect(jobAfterAttempt({ attempts: 3, retries: 2, retryOn: ['failure'] }, 'failed', 0, policy, 'exit 1')).toEqual({
      state: 'failed',
      reason: 'exit 1 (after 3 attempts)',
    });
  });
  it('every attempt end state is handled', () => {
    for (const s of ATTEMPT_STATES) if (s !== 'running') expect(jobAfterAttempt({ attempts: 1, retries: 1 }, s, 0, policy).state).toBeDefined();
  });
});

describe('node transitions', () => {
  const table = NODE_STATES.flatMap((from) => NODE_STATES.map((to) => [from, to] as const));
  it.each(table)('%s → %s follows the table', (from, to) => {
    const ok = from === to || NODE_TRANSITIONS[from].includes(to);
    expect(canTransitionNode(from, to)).toBe(ok);
    if (!ok) expect(() => assertNodeTransition(from, to)).toThrow(IllegalTransitionError);
  });
  it('a lost node can come back online; a pending one cannot go busy directly', () => {
    expect(canTransitionNode('lost', 'online')).toBe(true);
    expect(canTransitionNode('pending-approval', 'busy')).toBe(false);
  });
});
