import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { asyncStore } from './async-adapter.ts';
import { storeConformance } from './conformance.ts';
import { SqliteStore } from './sqlite-store.ts';
import { MIGRATIONS } from './migrations.ts';

storeConformance('sqlite (file, WAL)', () => asyncStore(new SqliteStore(join(mkdtempSync(join(tmpdir(), 'picluster-store-')), 'db.sqlite'))));

describe('SqliteStore specifics', () => {
  it('migrates to the latest version, in WAL mode, and keeps data across reopen', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'picluster-store-')), 'db.sqlite');
    const a = new SqliteStore(path);
    expect(a.schemaVersion).toBe(MIGRATIONS[MIGRATIONS.length - 1]!.version);
    const [job] = a.insertJobs([{ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} }], 1);
    const attempt = a.startAttempts([{ jobId: job!.id, node: 'n' }], 2)[0]!.attempt;
    a.close();
    const raw = new Database(path);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    const b = new SqliteStore(path);
    expect(b.getJob(job!.id)).toMatchObject({ state: 'running', currentAttemptId: attempt.id });
    // attempt ids are never reused, even after reopening
    const [j2] = b.insertJobs([{ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} }], 3);
    const a2 = b.startAttempts([{ jobId: j2!.id, node: 'n' }], 4)[0]!.attempt;
    expect(a2.id).toBeGreaterThan(attempt.id);
    b.close();
  });

  it('migration 5 moves the removed nodes out of the meta key into their table', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'picluster-store-')), 'db.sqlite');
    const raw = new Database(path);
    for (const m of MIGRATIONS.filter((m) => m.version < 5)) raw.exec(m.sql);
    raw.pragma('user_version = 4');
    raw.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('removed-nodes', JSON.stringify(['pi-3', 'pi-7']));
    raw.close();
    const store = new SqliteStore(path);
    expect(store.isNodeRemoved('pi-3')).toBe(true);
    expect(store.isNodeRemoved('pi-7')).toBe(true);
    expect(store.isNodeRemoved('pi-1')).toBe(false);
    expect(store.getMeta('removed-nodes')).toBeUndefined();
    store.close();
  });

  it('refuses a database from a newer picluster', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'picluster-store-')), 'db.sqlite');
    const raw = new Database(path);
    raw.pragma('user_version = 999');
    raw.close();
    expect(() => new SqliteStore(path)).toThrow(/newer than this picluster knows/);
  });
});
