import { describe, expect, it } from 'vitest';
import { asyncStore } from './store/async-adapter.ts';
import { MemoryStore } from './store/memory-store.ts';
import { Retention, type PrunedKind } from './retention.ts';
import { createLogger } from '../common/logger.ts';

const log = createLogger({ level: 'silent' } as never);
const DAY = 86_400_000;
const spec = { spec: { kind: 'exec' as const, argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} };

function finished(store: MemoryStore, n: number, at: number, artifact?: string): void {
  const jobs = store.insertJobs(
    Array.from({ length: n }, () => spec),
    at,
  );
  for (const { jobId, attempt } of store.startAttempts(
    jobs.map((j) => ({ jobId: j.id, node: 'n' })),
    at,
  )) {
    const result = { exitCode: 0, stdout: 'x', stderr: '', ...(artifact ? { artifacts: [{ name: 'a', sha256: artifact, sizeBytes: 1 }] } : {}) };
    store.endAttempt({ attemptId: attempt.id, jobId, state: 'succeeded', at, result, job: { state: 'succeeded' } });
  }
}

describe('Retention', () => {
  it('prunes finished jobs past jobHistoryDays in bounded batches, yielding to the event loop between them', async () => {
    const store = new MemoryStore();
    const now = 100 * DAY;
    finished(store, 1050, now - 10 * DAY, 'old-only');
    finished(store, 5, now - 10 * DAY, 'shared');
    finished(store, 7, now - 1 * DAY, 'shared');
    const removed: string[] = [];
    const counted = new Map<PrunedKind, number>();
    const r = new Retention({
      store: asyncStore(store),
      clock: { now: () => now } as never,
      log,
      historyDays: 30,
      jobHistoryDays: 5,
      batchSize: 100,
      removeArtifact: async (sha) => void removed.push(sha),
      onPruned: (kind, n) => counted.set(kind, (counted.get(kind) ?? 0) + n),
    });
    // Something else scheduled on the loop gets to run while the prune is under way.
    let turns = 0;
    const other = setInterval(() => turns++, 0);
    const [a, b] = await Promise.all([r.prune(), r.prune()]);
    clearInterval(other);
    expect(a).toBe(b); // one run at a time: the second request joined the first
    expect(a).toMatchObject({ jobs: 1055, attempts: 1055, artifacts: 1, batches: 11 });
    expect(turns).toBeGreaterThan(0);
    expect(removed).toEqual(['old-only']);
    expect(Object.fromEntries(counted)).toEqual({ jobs: 1055, attempts: 1055, artifacts: 1 });
    expect(store.countJobsByState().succeeded).toBe(7);
    // On demand with 0 days: every finished job goes; now 'shared' is named by none.
    expect(await r.prune(0)).toMatchObject({ jobs: 7, artifacts: 1 });
    expect(removed).toEqual(['old-only', 'shared']);
  });
});
