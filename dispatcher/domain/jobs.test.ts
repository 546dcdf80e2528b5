import { describe, expect, it } from 'vitest';
import { IllegalTransitionError } from './errors.ts';
import { ATTEMPT_STATES, JOB_STATES, JOB_TRANSITIONS, assertJobTransition, backoffMs, jobAfterAttempt, type JobState } from './jobs.ts';
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

describe('after an attempt ends', () => {
  it.each([
    // attempts made, retries, attempt end, → job state, availableAt
    [1, 3, 'succeeded', 'succeeded', undefined],
    [1, 3, 'cancelled', 'cancelled', undefined],
    [1, 3, 'failed', 'queued', 1000],
    [2, 3, 'timed-out', 'queued', 2000],
    [3, 3, 'node-lost', 'queued', 4000],
    [4, 3, 'node-lost', 'failed', undefined],
    [1, 0, 'failed', 'failed', undefined],
    [9, 20, 'rejected', 'queued', 8000], // capped
  ] as const)('attempt %i of 1+%i ends %s → %s', (attempts, retries, end, state, delay) => {
    const r = jobAfterAttempt({ attempts, retries }, end, 0, policy);
    expect(r.state).toBe(state);
    if (delay !== undefined) expect(r).toMatchObject({ availableAt: delay });
  });
  it('backoff doubles and caps', () => {
    expect([1, 2, 3, 4, 5, 40].map((n) => backoffMs(n, policy))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(backoffMs(3, { backoffMs: 0, backoffMaxMs: 0 })).toBe(0);
  });
  it('failed reason says how many attempts', () => {
    expect(jobAfterAttempt({ attempts: 3, retries: 2 }, 'failed', 0, policy, 'exit 1')).toEqual({ state: 'failed', reason: 'exit 1 (after 3 attempts)' });
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
