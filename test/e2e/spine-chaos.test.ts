/**
 * The spine's durability promise with real processes: master + 3 agents, 500 jobs; the master
 * is killed -9 twice and an agent once mid-run, another agent is frozen (SIGSTOP) until it is
 * declared lost; every job still ends `succeeded` exactly once, and late results are counted.
 * Runs on SQLite (the default) and on PostgreSQL (`store.kind: postgres`, a real server started
 * by dispatcher/store/testing/postgres.ts; skipped with POSTGRES_MISSING when it is absent).
 */
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import pg from 'pg';
import { join } from 'node:path';
import { findPostgres, POSTGRES_MISSING, startPostgres, type TestPostgres } from '../../dispatcher/store/testing/postgres.ts';
import { ClusterHarness, waitFor } from './helpers/cluster-processes.ts';

const JOBS = 500;
const env = {
  PICLUSTER_SCHEDULER__HEARTBEAT_MS: '300',
  PICLUSTER_SCHEDULER__RESTART_GRACE_MS: '3000',
  PICLUSTER_SCHEDULER__RETRY_BACKOFF_MS: '50',
  PICLUSTER_SCHEDULER__RETRY_BACKOFF_MAX_MS: '500',
  PICLUSTER_SCHEDULER__DEFAULT_RETRIES: '20',
};
const pgBin = findPostgres();
if (!pgBin) console.warn(POSTGRES_MISSING);
let server: TestPostgres | undefined;
const harnesses: ClusterHarness[] = [];

afterAll(async () => {
  for (const h of harnesses) await h.stop();
  await server?.stop();
}, 60_000);

type Counts = Record<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>;

/** The committed truth, read from the engine itself after the run. */
interface Truth {
  perJob(): Promise<{ id: number; state: string; ok: number }[]>;
  /** Jobs whose recorded stdout is not their own id. */
  wrongOutput(): Promise<unknown[]>;
  count(sql: string): Promise<number>;
  close(): Promise<void>;
}

const PER_JOB = "SELECT j.id, j.state, (SELECT COUNT(*) FROM attempts a WHERE a.job_id = j.id AND a.state = 'succeeded') AS ok FROM jobs j";

function sqliteTruth(dataDir: string): Truth {
  const db = new Database(join(dataDir, 'picluster.db'), { readonly: true });
  return {
    perJob: async () => db.prepare(PER_JOB).all() as { id: number; state: string; ok: number }[],
    wrongOutput: async () =>
      db
        .prepare("SELECT j.id, a.result FROM jobs j JOIN attempts a ON a.id = j.last_attempt_id WHERE json_extract(a.result, '$.stdout') != j.id || char(10)")
        .all(),
    count: async (sql) => (db.prepare(sql).get() as { n: number }).n,
    close: async () => void db.close(),
  };
}

async function postgresTruth(url: string): Promise<Truth> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return {
    perJob: async () => (await c.query(PER_JOB)).rows.map((r) => ({ id: Number(r.id), state: r.state, ok: Number(r.ok) })),
    wrongOutput: async () =>
      (
        await c.query(
          "SELECT j.id, a.result FROM jobs j JOIN attempts a ON a.id = j.last_attempt_id WHERE (a.result::jsonb ->> 'stdout') <> j.id::text || chr(10)",
        )
      ).rows,
    count: async (sql) => Number((await c.query(sql)).rows[0].n),
    close: () => c.end(),
  };
}

describe.each([
  { engine: 'sqlite', skip: false },
  { engine: 'postgres', skip: !pgBin },
] as const)('spine chaos on $engine: kill -9 the master twice and an agent once', ({ engine, skip }) => {
  it.skipIf(skip)('ends every job succeeded exactly once, with stale results counted', { timeout: 300_000 }, async () => {
    let url: string | undefined;
    if (engine === 'postgres') {
      server ??= await startPostgres(pgBin!);
      url = await server.freshDatabase();
    }
    const harness = new ClusterHarness(url ? { ...env, PICLUSTER_STORE__KIND: 'postgres', PICLUSTER_STORE__URL: url } : env);
    harnesses.push(harness);
    await harness.startMaster();
    for (const name of ['a1', 'a2', 'a3']) harness.startAgent(name);
    await harness.waitForNodes(['a1', 'a2', 'a3']);

    // Each job sleeps a little and prints its own id, so a crossed-up result would show.
    const jobs = await harness.api<{ id: number; state: string }[]>(
      'POST',
      '/api/jobs',
      Array.from({ length: JOBS }, (_, i) => ({ name: `job-${i}`, argv: ['sh', '-c', `sleep 0.0${i % 5}; echo "$PICLUSTER_JOB_ID"`], group: `g${i % 3}` })),
    );
    expect(jobs).toHaveLength(JOBS);
    expect(jobs.every((j) => j.state === 'queued')).toBe(true);
    const succeeded = async () => (await harness.api<Counts>('GET', '/api/jobs/status')).succeeded;

    // 1. freeze a2 while it runs jobs; it is declared lost, its jobs rerun elsewhere; thaw it:
    //    its late results for attempts that were given away are stale.
    await waitFor('a2 running jobs', async () => (await harness.api<{ running: number }>('GET', '/api/nodes/a2')).running > 0);
    process.kill(harness.agents.get('a2')!.pid, 'SIGSTOP');
    await waitFor('a2 lost', async () => (await harness.api<{ state: string }>('GET', '/api/nodes/a2')).state === 'lost', 15_000);
    process.kill(harness.agents.get('a2')!.pid, 'SIGCONT');

    // 2. kill -9 the master mid-run, restart it on the same data dir
    await waitFor('100 done', async () => (await succeeded()) >= 100, 120_000);
    harness.master!.child.kill('SIGKILL');
    await harness.master!.exited;
    await harness.startMaster();

    // 3. kill -9 an agent mid-run and start it again (same name, same kernel boot)
    await waitFor('200 done', async () => (await succeeded()) >= 200, 120_000);
    const a3 = harness.agents.get('a3')!;
    a3.child.kill('SIGKILL');
    await a3.exited;
    harness.startAgent('a3');

    // 4. kill -9 the master again
    await waitFor('300 done', async () => (await succeeded()) >= 300, 120_000);
    harness.master!.child.kill('SIGKILL');
    await harness.master!.exited;
    await harness.startMaster();

    const final = await waitFor(
      'all jobs ended',
      async () => {
        const c = await harness.api<Counts>('GET', '/api/jobs/status');
        return c.queued + c.running === 0 ? c : undefined;
      },
      180_000,
      200,
    );
    expect(final).toEqual({ queued: 0, running: 0, succeeded: JOBS, failed: 0, cancelled: 0 });

    const overview = await harness.api<{ staleResults: number }>('GET', '/api/cluster/overview');
    await harness.stop();

    // Look at the committed truth directly.
    const truth = url ? await postgresTruth(url) : sqliteTruth(harness.dataDir);
    const perJob = await truth.perJob();
    expect(perJob).toHaveLength(JOBS);
    expect(perJob.filter((j) => j.state !== 'succeeded' || j.ok !== 1)).toEqual([]);
    // each job's recorded output is its own id
    expect(await truth.wrongOutput()).toEqual([]);
    const stale = await truth.count('SELECT COUNT(*) AS n FROM stale_results');
    const requeued = await truth.count("SELECT COUNT(*) AS n FROM attempts WHERE state = 'node-lost'");
    await truth.close();
    expect(requeued).toBeGreaterThan(0);
    expect(stale).toBeGreaterThan(0);
    expect(overview.staleResults).toBeGreaterThan(0);
    console.log(`chaos (${engine}): ${JOBS} jobs succeeded once each; ${requeued} attempts lost with their node and rerun; ${stale} stale results dropped`);
  });
});
