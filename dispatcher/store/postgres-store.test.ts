import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { storeConformance } from './conformance.ts';
import { PG_SCHEMA_VERSION } from './postgres-migrations.ts';
import { PostgresStore, redactUrl } from './postgres-store.ts';
import { findPostgres, POSTGRES_MISSING, startPostgres, type TestPostgres } from './testing/postgres.ts';

const bin = findPostgres();
if (!bin) console.warn(POSTGRES_MISSING);

describe.skipIf(!bin)('PostgresStore (a real PostgreSQL, started by the test)', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres(bin!);
  });
  afterAll(async () => {
    await server?.stop();
  });

  storeConformance('postgres', async () => PostgresStore.open(await server.freshDatabase()));

  it('records its migrations in a table, and reopening applies none twice', async () => {
    const url = await server.freshDatabase();
    const a = await PostgresStore.open(url);
    expect(await a.schemaVersion()).toBe(PG_SCHEMA_VERSION);
    const [job] = await a.insertJobs([{ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} }], 1);
    const first = (await a.startAttempts([{ jobId: job!.id, node: 'n' }], 2))[0]!.attempt;
    await a.close();
    const b = await PostgresStore.open(url);
    expect(await b.getJob(job!.id)).toMatchObject({ state: 'running', currentAttemptId: first.id });
    const [j2] = await b.insertJobs([{ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} }], 3);
    expect((await b.startAttempts([{ jobId: j2!.id, node: 'n' }], 4))[0]!.attempt.id).toBeGreaterThan(first.id);
    await b.close();
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    const { rows } = await raw.query('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual([PG_SCHEMA_VERSION]);
    await raw.query('INSERT INTO schema_migrations (version, name) VALUES (999, $1)', ['from the future']);
    await raw.end();
    await expect(PostgresStore.open(url)).rejects.toThrow(/newer than this picluster knows/);
  });

  it('concurrent ends of one attempt from two connections: exactly one is recorded', async () => {
    const url = await server.freshDatabase();
    const [a, b] = await Promise.all([PostgresStore.open(url), PostgresStore.open(url)]);
    const jobs = await a.insertJobs(
      Array.from({ length: 20 }, () => ({ spec: { kind: 'exec' as const, argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} })),
      1,
    );
    const started = await a.startAttempts(
      jobs.map((j) => ({ jobId: j.id, node: 'n' })),
      2,
    );
    const end = (s: PostgresStore, attemptId: number, jobId: number) =>
      s.transaction(async (tx) => tx.endAttempt({ attemptId, jobId, state: 'succeeded', at: 3, job: { state: 'succeeded' } }));
    const outcomes = await Promise.all(started.flatMap(({ jobId, attempt }) => [end(a, attempt.id, jobId), end(b, attempt.id, jobId)]));
    expect(outcomes.filter(Boolean)).toHaveLength(20);
    expect(await a.countJobsByState()).toMatchObject({ succeeded: 20, running: 0 });
    await Promise.all([a.close(), b.close()]);
  });

  it('a NUL in a text column (a job name or group, an agent’s error text as the reason) is stored as U+FFFD, not a failed commit', async () => {
    const s = await PostgresStore.open(await server.freshDatabase());
    const [job] = await s.insertJobs(
      [{ name: 'a\u0000b', spec: { kind: 'exec', argv: ['x\u0000'] }, priority: 0, group: 'g\u0000', retries: 0, requirements: {} }],
      1,
    );
    const attempt = (await s.startAttempts([{ jobId: job!.id, node: 'n' }], 2))[0]!.attempt;
    const ended = await s.transaction(async (tx) =>
      tx.endAttempts([
        {
          attemptId: attempt.id,
          jobId: job!.id,
          state: 'failed',
          at: 3,
          reason: 'boom\u0000',
          result: { error: 'boom\u0000' },
          job: { state: 'failed', reason: 'boom\u0000' },
        },
      ]),
    );
    expect(ended).toEqual([true]);
    // JSON keeps the NUL (escaped in the text); the plain text columns hold U+FFFD
    expect(await s.getJob(job!.id)).toMatchObject({ name: 'a\uFFFDb', group: 'g\uFFFD', reason: 'boom\uFFFD', state: 'failed', spec: { argv: ['x\u0000'] } });
    expect(await s.listAttempts(job!.id)).toMatchObject([{ reason: 'boom\uFFFD', result: { error: 'boom\u0000' } }]);
    await s.close();
  });

  it('two stores opening one empty database at once migrate it once', async () => {
    const url = await server.freshDatabase();
    const [a, b] = await Promise.all([PostgresStore.open(url), PostgresStore.open(url)]);
    expect(await a.schemaVersion()).toBe(PG_SCHEMA_VERSION);
    await Promise.all([a.close(), b.close()]);
  });

  it('says which database it cannot reach, without the password', async () => {
    const url = `postgres://picluster:secret@127.0.0.1:${server.port}/no_such_db`;
    await expect(PostgresStore.open(url)).rejects.toThrow(/cannot open PostgreSQL database postgres:\/\/picluster:\*\*\*@127\.0\.0\.1:\d+\/no_such_db/);
    expect(redactUrl(url)).not.toContain('secret');
  });
});
