/**
 * The master on `store.kind: postgres` against a real PostgreSQL the test starts itself
 * (store/testing/postgres.ts; skipped with POSTGRES_MISSING when the binaries are absent):
 * jobs run to completion on simulated agents, each exactly once, nothing is written to a SQLite
 * file, and a second master on the same database sees them.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { silentLogger } from '../common/logger.ts';
import { Fleet } from '../simulate/fleet.ts';
import { DB_FILE } from './data-dir.ts';
import { startMaster } from './master.ts';
import { PostgresStore } from './store/postgres-store.ts';
import { findPostgres, POSTGRES_MISSING, startPostgres, type TestPostgres } from './store/testing/postgres.ts';

const bin = findPostgres();
if (!bin) console.warn(POSTGRES_MISSING);
const SECRET = 'master-postgres-secret-0123456789';

describe.skipIf(!bin)('the master on store.kind: postgres', () => {
  let server: TestPostgres;
  let dir: string;
  beforeAll(async () => {
    server = await startPostgres(bin!);
    dir = mkdtempSync(join(tmpdir(), 'picluster-master-pg-'));
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs jobs exactly once on simulated agents, and a restarted master finds them in PostgreSQL', { timeout: 60_000 }, async () => {
    const url = await server.freshDatabase();
    const config = loadConfig({
      overrides: {
        dataDir: dir,
        'store.kind': 'postgres',
        'store.url': url,
        'http.host': '127.0.0.1',
        'http.port': 0,
        'inventory.path': join(dir, 'no-inventory.yaml'),
        'log.level': 'silent',
        'cluster.secret': SECRET,
        'scheduler.heartbeatMs': 200,
      },
    });
    const master = await startMaster(config, { log: silentLogger() });
    const fleet = new Fleet({ url: master.url, clusterSecret: SECRET, nodes: 3, jobMs: 5, spreadLoopback: true });
    try {
      await fleet.start();
      const jobs = await master.dispatcher.submit(Array.from({ length: 60 }, (_, i) => ({ spec: { kind: 'exec' as const, argv: ['echo', String(i)] } })));
      await expect.poll(async () => (await master.dispatcher.jobCounts()).succeeded, { timeout: 30_000 }).toBe(60);
      expect((await master.dispatcher.overview()).jobs).toMatchObject({ queued: 0, running: 0, succeeded: 60 });
      expect(existsSync(join(dir, DB_FILE))).toBe(false);
      fleet.stop();
      await master.close();
      const store = await PostgresStore.open(url);
      try {
        for (const j of jobs) expect((await store.listAttempts(j.id)).map((a) => a.state)).toEqual(['succeeded']);
      } finally {
        await store.close();
      }
      const again = await startMaster(config, { log: silentLogger() });
      try {
        expect((await again.dispatcher.jobCounts()).succeeded).toBe(60);
        expect(again.dispatcher.listNodes().map((n) => n.name)).toHaveLength(3);
      } finally {
        await again.close();
      }
    } finally {
      fleet.stop();
      await master.close();
    }
  });
});
