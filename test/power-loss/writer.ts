/**
 * The power-loss test's writer (run under the fsync-log shim): commits submissions and results
 * one at a time through SqliteStore, as the master does, and prints each acknowledgment
 * (`J <job id>`, `R <attempt id>`) only after its commit returned — what a 201 or a result ack
 * waits for. Runs until it is killed.
 */
import { SqliteStore } from '../../dispatcher/store/sqlite-store.ts';

const [path, synchronous] = process.argv.slice(2) as [string, 'full' | 'normal'];
const store = new SqliteStore(path, { synchronous });
const spec = { spec: { kind: 'exec' as const, argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} };
for (let i = 1; ; i++) {
  const [job] = store.insertJobs([spec], i);
  process.stdout.write(`J ${job!.id}\n`);
  if (i % 2 === 0) {
    const [started] = store.startAttempts([{ jobId: job!.id, node: 'n' }], i);
    const a = started!.attempt;
    store.endAttempt({
      attemptId: a.id,
      jobId: job!.id,
      state: 'succeeded',
      at: i,
      result: { exitCode: 0, stdout: String(i), stderr: '' },
      job: { state: 'succeeded' },
    });
    process.stdout.write(`R ${a.id}\n`);
  }
  // Let stdout drain now and then (a write to a pipe is asynchronous in node).
  if (i % 20 === 0) await new Promise((r) => setImmediate(r));
}
