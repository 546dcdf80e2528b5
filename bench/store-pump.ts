/**
 * Store engines under the pump's commit pattern (issue 12 item 5): `--jobs` queued jobs, then
 * pumps of `--batch` each — one transaction that ends the previous pump's attempts (succeeded)
 * and starts the next `--batch` — on the AsyncStore contract, per engine, in one run:
 * `sqlite` (file, WAL, synchronous full, through asyncStore()), `sqlite-sync` (the same file
 * engine on the synchronous contract, what the dispatcher runs today: the adapter's cost),
 * `memory`, `postgres` (a PostgreSQL the bench starts on loopback with fsync on, then stops).
 *
 *   npm run bench:store -- [--jobs 20000] [--batch 100] [--engines sqlite-sync,sqlite,memory,postgres] [--rounds 1]
 *
 * Prints jobs/s (jobs started and ended through the store per second) per engine and round.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { asyncStore } from '../dispatcher/store/async-adapter.ts';
import { PostgresStore } from '../dispatcher/store/postgres-store.ts';
import { SqliteStore } from '../dispatcher/store/sqlite-store.ts';
import { MemoryStore } from '../dispatcher/store/memory-store.ts';
import type { AsyncStore, Store } from '../dispatcher/store/store.ts';
import { findPostgres, startPostgres, type TestPostgres } from '../dispatcher/store/testing/postgres.ts';
import type { Attempt, NewJob } from '../dispatcher/domain/jobs.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '100' },
    engines: { type: 'string', default: 'sqlite-sync,sqlite,memory,postgres' },
    rounds: { type: 'string', default: '1' },
  },
});
const JOBS = Number(values.jobs);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);
const ENGINES = values.engines.split(',');
for (const [k, v] of Object.entries({ jobs: JOBS, batch: BATCH, rounds: ROUNDS }))
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be an integer ≥ 1`);
for (const e of ENGINES) if (!['sqlite-sync', 'sqlite', 'memory', 'postgres'].includes(e)) throw new Error(`unknown engine ${e}`);

const job: NewJob = { spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'bench', retries: 0, requirements: {} };
const succeeded = (a: Attempt) => ({
  attemptId: a.id,
  jobId: a.jobId,
  state: 'succeeded' as const,
  at: 2,
  result: { exitCode: 0, stdout: '', durationMs: 1 },
  job: { state: 'succeeded' as const },
});

async function runAsync(store: AsyncStore): Promise<number> {
  const ids: number[] = [];
  for (let i = 0; i < JOBS; i += 1000)
    ids.push(
      ...(
        await store.insertJobs(
          Array.from({ length: Math.min(1000, JOBS - i) }, () => job),
          1,
        )
      ).map((j) => j.id),
    );
  const t0 = performance.now();
  let running: Attempt[] = [];
  for (let at = 0; at < ids.length || running.length; at += BATCH) {
    const next = ids.slice(at, at + BATCH).map((jobId, i) => ({ jobId, node: `n${i % 20}` }));
    running = await store.transaction(async (tx) => {
      for (const a of running) await tx.endAttempt(succeeded(a));
      return (await tx.startAttempts(next, 2)).map((s) => s.attempt);
    });
  }
  return JOBS / ((performance.now() - t0) / 1000);
}

function runSync(store: Store): number {
  const ids = store
    .insertJobs(
      Array.from({ length: JOBS }, () => job),
      1,
    )
    .map((j) => j.id);
  const t0 = performance.now();
  let running: Attempt[] = [];
  for (let at = 0; at < ids.length || running.length; at += BATCH) {
    const next = ids.slice(at, at + BATCH).map((jobId, i) => ({ jobId, node: `n${i % 20}` }));
    running = store.transaction(() => {
      for (const a of running) store.endAttempt(succeeded(a));
      return store.startAttempts(next, 2).map((s) => s.attempt);
    });
  }
  return JOBS / ((performance.now() - t0) / 1000);
}

const dir = mkdtempSync(join(tmpdir(), 'picluster-bench-store-'));
let pg: TestPostgres | undefined;
try {
  if (ENGINES.includes('postgres')) {
    const bin = findPostgres();
    if (!bin) throw new Error('postgres: not installed (apt-get install postgresql)');
    pg = await startPostgres(bin, { fsync: true });
  }
  console.log(`store-pump: ${JOBS} jobs, pumps of ${BATCH}, ${ROUNDS} round(s)`);
  for (let r = 0; r < ROUNDS; r++) {
    for (const engine of ENGINES) {
      const path = join(dir, `${engine}-${r}.db`);
      let rate: number;
      if (engine === 'sqlite-sync') {
        const s = new SqliteStore(path);
        rate = runSync(s);
        s.close();
      } else {
        const s =
          engine === 'postgres'
            ? await PostgresStore.open(await pg!.freshDatabase())
            : asyncStore(engine === 'sqlite' ? new SqliteStore(path) : new MemoryStore());
        rate = await runAsync(s);
        await s.close();
      }
      console.log(`round ${r + 1}  ${engine.padEnd(12)} ${Math.round(rate).toLocaleString('en-US').padStart(8)} jobs/s`);
    }
  }
} finally {
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
}
