import { describe, expect, it } from 'vitest';
import { asyncStore } from './async-adapter.ts';
import { MemoryStore } from './memory-store.ts';
import { countStoreWrites, STORE_WRITE_OPS } from './write-counter.ts';

describe('countStoreWrites', () => {
  it('counts write operations by name and leaves reads and results alone', () => {
    const { store, counts } = countStoreWrites(new MemoryStore());
    const [job] = store.transaction(() =>
      store.insertJobs([{ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} }], 1),
    );
    expect(store.getJob(job!.id)?.id).toBe(job!.id);
    store.setMeta('k', 'v');
    store.setMeta('k', 'w');
    expect(store.getMeta('k')).toBe('w');
    expect(counts.get('transaction')).toBe(1);
    expect(counts.get('insertJobs')).toBe(1);
    expect(counts.get('setMeta')).toBe(2);
    expect(counts.get('saveNode')).toBe(0);
    expect([...counts.keys()]).not.toContain('getJob');
  });

  it('counts the writes made on an AsyncStore transaction’s tx (the pump’s writes)', async () => {
    const { store, counts } = countStoreWrites(asyncStore(new MemoryStore()));
    await store.transaction(async (tx) => {
      const [job] = await tx.insertJobs([{ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} }], 1);
      await tx.startAttempts([{ jobId: job!.id, node: 'n' }], 2);
    });
    expect(counts.get('transaction')).toBe(1);
    expect(counts.get('insertJobs')).toBe(1);
    expect(counts.get('startAttempts')).toBe(1);
  });

  it('counts a batch of ends (endAttempts, the pump’s results) as one endAttempt per attempt, on any engine', async () => {
    const { store, counts } = countStoreWrites(asyncStore(new MemoryStore()));
    await store.transaction(async (tx) => {
      const jobs = await tx.insertJobs(
        [1, 2, 3].map(() => ({ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} })),
        1,
      );
      const started = await tx.startAttempts(
        jobs.map((j) => ({ jobId: j.id, node: 'n' })),
        2,
      );
      const ends = started.map((s) => ({ jobId: s.jobId, attemptId: s.attempt.id, state: 'succeeded' as const, at: 3, job: { state: 'succeeded' as const } }));
      expect(await tx.endAttempts(ends)).toEqual([true, true, true]);
      await tx.endAttempt(ends[0]!); // already ended: still a write asked for
    });
    expect(counts.get('endAttempt')).toBe(4);
    expect([...counts.keys()]).not.toContain('endAttempts');
  });

  it('leaves names that are not store operations alone (toString, constructor: Object.prototype names)', () => {
    const { store, counts } = countStoreWrites(new MemoryStore());
    expect(String(store)).toBe('[object Object]');
    expect(store.constructor).toBe(MemoryStore);
    expect([...counts.values()].every((n) => n === 0)).toBe(true);
    expect(counts.size).toBe(STORE_WRITE_OPS.length);
  });
});
