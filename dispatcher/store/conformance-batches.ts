/**
 * The conformance cases of `endAttempts` (the pump's results in one call), run inside
 * `storeConformance`'s describe (conformance.ts) with its store.
 */
import { expect, it } from 'vitest';
import type { NewJob } from '../domain/jobs.ts';
import type { AsyncStore } from './store.ts';

export function attemptBatchCases(get: () => AsyncStore, newJob: (o?: Partial<NewJob>) => NewJob): void {
  it('ends a batch of attempts in order, each a compare-and-set of its own (endAttempts)', async () => {
    const store = get();
    const [a, b, c] = await store.insertJobs([newJob(), newJob(), newJob()], 1);
    const started = await store.startAttempts(
      [a!, b!, c!].map((j) => ({ jobId: j.id, node: 'n1' })),
      2,
    );
    const [sa, sb, sc] = started.map((s) => s.attempt);
    const end = (jobId: number, attemptId: number, state: 'succeeded' | 'failed', at: number) =>
      ({ jobId, attemptId, state, at, result: { exitCode: state === 'succeeded' ? 0 : 1 }, job: { state } }) as const;
    expect(
      await store.endAttempts([
        end(a!.id, sa!.id, 'succeeded', 3),
        end(b!.id, sa!.id, 'succeeded', 3), // another job's attempt: moves nothing
        end(b!.id, sb!.id, 'failed', 4),
        end(a!.id, sa!.id, 'failed', 5), // already ended: not recorded twice
      ]),
    ).toEqual([true, false, true, false]);
    expect(await store.endAttempts([])).toEqual([]);
    expect(await store.getJob(a!.id)).toMatchObject({ state: 'succeeded', finishedAt: 3 });
    expect(await store.getJob(b!.id)).toMatchObject({ state: 'failed', finishedAt: 4 });
    expect(await store.getJob(c!.id)).toMatchObject({ state: 'running', currentAttemptId: sc!.id });
    expect((await store.listAttempts(a!.id)).map((x) => [x.state, x.endedAt])).toEqual([['succeeded', 3]]);
  });

  it('ends a batch of distinct attempts as each alone would: finished, requeued, stale', async () => {
    const store = get();
    const [a, b, c, x] = await store.insertJobs([newJob(), newJob(), newJob(), newJob()], 1);
    const [sa, sb, sc, sx] = (
      await store.startAttempts(
        [a!, b!, c!, x!].map((j) => ({ jobId: j.id, node: 'n1' })),
        2,
      )
    ).map((s) => s.attempt);
    // c's attempt ends first, alone; in the batch its late end is stale
    expect(
      await store.endAttempt({ jobId: c!.id, attemptId: sc!.id, state: 'failed', at: 3, reason: 'exit 1', job: { state: 'failed', reason: 'exit 1' } }),
    ).toBe(true);
    const result = { exitCode: 0, stdout: 'ok\n', value: { n: [1, 2] } };
    expect(
      await store.endAttempts([
        { jobId: a!.id, attemptId: sa!.id, state: 'succeeded', at: 4, result, job: { state: 'succeeded' } },
        { jobId: b!.id, attemptId: sb!.id, state: 'node-lost', at: 5, reason: 'node-lost', job: { state: 'queued', availableAt: 9, reason: 'node n1 lost' } },
        { jobId: c!.id, attemptId: sc!.id, state: 'succeeded', at: 6, job: { state: 'succeeded' } },
        { jobId: x!.id, attemptId: sx!.id, state: 'abandoned', at: 7, reason: 'drained', job: { state: 'queued', availableAt: 7, reason: 'drained' } },
      ]),
    ).toEqual([true, true, false, true]);
    expect(await store.getJob(a!.id)).toMatchObject({ state: 'succeeded', finishedAt: 4, lastAttemptId: sa!.id });
    expect((await store.getJob(a!.id))!.currentAttemptId).toBeUndefined();
    expect(await store.getJob(b!.id)).toMatchObject({ state: 'queued', availableAt: 9, reason: 'node n1 lost', nodeLosses: 1, abandons: 0 });
    expect((await store.getJob(b!.id))!.finishedAt).toBeUndefined();
    expect(await store.getJob(c!.id)).toMatchObject({ state: 'failed', finishedAt: 3, reason: 'exit 1' });
    expect(await store.getJob(x!.id)).toMatchObject({ state: 'queued', availableAt: 7, abandons: 1, nodeLosses: 0 });
    expect(await store.listAttempts(a!.id)).toMatchObject([{ state: 'succeeded', endedAt: 4, result }]);
    expect(await store.listAttempts(b!.id)).toMatchObject([{ state: 'node-lost', endedAt: 5, reason: 'node-lost' }]);
    expect(await store.listAttempts(c!.id)).toMatchObject([{ state: 'failed', endedAt: 3, reason: 'exit 1' }]);
    expect(await store.runningAttempts()).toEqual([]);
  });
}
