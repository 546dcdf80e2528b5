/**
 * `npm run bench:backup -- [--jobs 1000000]`: builds a database of N finished jobs (one attempt
 * each, with output), then times `backupDatabase` (VACUUM INTO) and `restoreDatabase` on it, as
 * `picluster backup` / `picluster restore` run them. Prints one JSON line.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteStore } from '../dispatcher/store/sqlite-store.ts';
import { backupDatabase, restoreDatabase } from '../dispatcher/store/sqlite-backup.ts';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '1000000' }, keep: { type: 'boolean' } } });
const n = Number(values.jobs);
if (!Number.isInteger(n) || n < 1) throw new Error('--jobs takes a whole number ≥ 1');
const dir = mkdtempSync(join(tmpdir(), 'picluster-bench-backup-'));
const db = join(dir, 'picluster.db');
const store = new SqliteStore(db);
const t0 = performance.now();
const CHUNK = 5000;
for (let done = 0; done < n; done += CHUNK) {
  const k = Math.min(CHUNK, n - done);
  store.transaction(() => {
    const jobs = store.insertJobs(
      Array.from({ length: k }, (_, i) => ({
        spec: { kind: 'exec' as const, argv: ['echo', String(done + i)] },
        priority: 0,
        group: 'bench',
        retries: 0,
        requirements: {},
      })),
      1,
    );
    for (const { jobId, attempt } of store.startAttempts(
      jobs.map((j) => ({ jobId: j.id, node: `pi-${j.id % 50}` })),
      2,
    )) {
      store.endAttempt({
        attemptId: attempt.id,
        jobId,
        state: 'succeeded',
        at: 3,
        result: { exitCode: 0, stdout: `${jobId}\n`, stderr: '' },
        job: { state: 'succeeded' },
      });
    }
  });
}
store.close();
const buildS = (performance.now() - t0) / 1000;
const backupFile = join(dir, 'backup.db');
const b = backupDatabase(db, backupFile, { 'cluster-secret': 'x'.repeat(43), 'admin-token': 'y'.repeat(43) });
const target = join(dir, 'restored', 'picluster.db');
mkdirSync(join(dir, 'restored'));
const r = restoreDatabase(backupFile, target);
process.stdout.write(
  JSON.stringify({
    jobs: n,
    buildS: +buildS.toFixed(1),
    dbMB: +(statSync(db).size / 1e6).toFixed(1),
    backupMB: +(b.bytes / 1e6).toFixed(1),
    backupS: +(b.ms / 1000).toFixed(2),
    restoreS: +(r.ms / 1000).toFixed(2),
  }) + '\n',
);
if (!values.keep) rmSync(dir, { recursive: true, force: true });
