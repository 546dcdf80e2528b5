import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from './sqlite-store.ts';
import { MIGRATIONS } from './migrations.ts';
import { dumpTables } from './table-dump.ts';
import { backupDatabase, inspectBackup, restoreDatabase } from './sqlite-backup.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'picluster-backup-'));

function populate(store: SqliteStore): void {
  const jobs = store.insertJobs(
    Array.from({ length: 50 }, (_, i) => ({
      spec: { kind: 'exec' as const, argv: ['echo', String(i)] },
      priority: i % 3,
      group: `g${i % 4}`,
      retries: 1,
      requirements: {},
    })),
    1000,
  );
  const started = store.startAttempts(
    jobs.slice(0, 30).map((j) => ({ jobId: j.id, node: 'pi-1' })),
    2000,
  );
  for (const { jobId, attempt } of started.slice(0, 20)) {
    store.endAttempt({
      attemptId: attempt.id,
      jobId,
      state: 'succeeded',
      at: 3000,
      result: { exitCode: 0, stdout: `out ${jobId}`, stderr: '' },
      job: { state: 'succeeded' },
    });
  }
  store.saveNode({ name: 'pi-1', mac: 'dc:a6:32:00:00:01', slots: 4, labels: { zone: 'a' } } as never);
  store.addNodeEvent({ node: 'pi-1', at: 5, kind: 'state', message: 'm', actor: 'system' });
  store.setMeta('k', 'v');
}

describe('backup and restore (SQLite)', () => {
  it('round-trips every table, with the secrets, and keeps the database it replaces', () => {
    const dir = tmp();
    const db = join(dir, 'picluster.db');
    const store = new SqliteStore(db);
    populate(store);
    const before = dumpTables(db);
    const file = join(dir, 'backup.db');
    const b = backupDatabase(db, file, { 'cluster-secret': 's'.repeat(32), 'admin-token': 't'.repeat(32) }, 42);
    store.close();
    expect(b).toMatchObject({ jobs: 50, schemaVersion: MIGRATIONS.at(-1)!.version });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(inspectBackup(file)).toEqual({
      jobs: 50,
      schemaVersion: b.schemaVersion,
      createdAt: 42,
      secrets: { 'cluster-secret': 's'.repeat(32), 'admin-token': 't'.repeat(32) },
    });

    const target = join(tmp(), 'picluster.db');
    const r = restoreDatabase(file, target);
    expect(r.previous).toBeUndefined();
    expect(dumpTables(target)).toEqual(before);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    const reopened = new SqliteStore(target);
    expect(reopened.countJobsByState()).toMatchObject({ queued: 20, running: 10, succeeded: 20 });
    expect(reopened.listNodes().map((n) => n.name)).toEqual(['pi-1']);
    reopened.insertJobs([{ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} }], 9);
    reopened.close();

    // Restoring over an existing database keeps it aside, with its -wal.
    const again = restoreDatabase(file, target, Date.UTC(2026, 0, 2));
    expect(again.previous).toBe(`${target}.pre-restore-2026-01-02T00-00-00-000Z`);
    expect(dumpTables(again.previous!).jobs).toHaveLength(51);
    expect(dumpTables(target)).toEqual(before);
  });

  it('never overwrites a file, and refuses what is not a backup with a clear error', () => {
    const dir = tmp();
    const db = join(dir, 'picluster.db');
    new SqliteStore(db).close();
    writeFileSync(join(dir, 'exists'), 'x');
    expect(() => backupDatabase(db, join(dir, 'exists'), {})).toThrow(/exists: choose a new file name/);
    expect(() => backupDatabase(join(dir, 'nope.db'), join(dir, 'out'), {})).toThrow(/no database at/);
    expect(() => restoreDatabase(join(dir, 'missing'), join(dir, 'x.db'))).toThrow(/no backup file/);
    expect(() => restoreDatabase(db, join(dir, 'x.db'))).toThrow(/not a picluster backup/);
    writeFileSync(join(dir, 'garbage'), 'not sqlite at all, just text that is long enough to have a header'.repeat(20));
    expect(() => restoreDatabase(join(dir, 'garbage'), join(dir, 'x.db'))).toThrow(/not a picluster backup/);
    expect(existsSync(join(dir, 'x.db'))).toBe(false);
  });
});
