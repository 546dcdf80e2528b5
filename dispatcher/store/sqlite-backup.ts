/**
 * Online backup and offline restore of the SQLite database, as one file.
 *
 * Backup is `VACUUM INTO` from a connection of its own: one read transaction, so the copy is
 * the database as of one commit, whatever the master writes meanwhile (WAL readers never block
 * the writer, and the writer never blocks them). The secrets the data dir holds beside the
 * database (cluster secret, admin token) go into a `picluster_backup` table of the copy, so one
 * file restores a master; the file is created 0600 before anything is written into it.
 *
 * Restore checks the file (its table, `quick_check`, schema version), drops that table from a
 * copy inside the data dir, and renames the copy over `picluster.db` (the database it replaces
 * is kept beside it as `picluster.db.pre-restore-<time>`, with its -wal).
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { StoreError } from './errors.ts';
import { MIGRATIONS } from './migrations.ts';

export const BACKUP_FORMAT = '1';
const TABLE = 'picluster_backup';

export interface BackupSummary {
  readonly file: string;
  readonly bytes: number;
  readonly jobs: number;
  readonly schemaVersion: number;
  readonly ms: number;
}

export interface RestoreSummary {
  readonly jobs: number;
  readonly schemaVersion: number;
  readonly createdAt: number;
  /** Secrets from the backup, by file name (`cluster-secret`, `admin-token`). */
  readonly secrets: Readonly<Record<string, string>>;
  /** Where the database that was replaced now is (undefined: there was none). */
  readonly previous?: string;
  readonly ms: number;
}

const fsyncPath = (path: string): void => {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
};

/** Copies the database at `dbPath` (the master may be running on it) to `outFile`, with `secrets`. */
export function backupDatabase(dbPath: string, outFile: string, secrets: Readonly<Record<string, string>>, now = Date.now()): BackupSummary {
  const started = performance.now();
  if (!existsSync(dbPath)) throw new StoreError(`no database at ${dbPath} (is --data-dir right?)`);
  if (existsSync(outFile)) throw new StoreError(`${outFile} exists: choose a new file name (a backup never overwrites)`);
  const tmp = join(dirname(outFile), `.${basename(outFile)}.${randomBytes(4).toString('hex')}.tmp`);
  // Created empty and 0600 first: VACUUM INTO keeps the mode, and the file will hold secrets.
  writeFileSync(tmp, '', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  let ok = false;
  try {
    const src = new Database(dbPath, { fileMustExist: true });
    try {
      src.pragma('busy_timeout = 10000');
      src.prepare('VACUUM INTO ?').run(tmp);
    } finally {
      src.close();
    }
    const out = new Database(tmp);
    let jobs: number;
    let schemaVersion: number;
    try {
      schemaVersion = out.pragma('user_version', { simple: true }) as number;
      jobs = (out.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n;
      out.exec(`CREATE TABLE ${TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      const put = out.prepare(`INSERT INTO ${TABLE} (key, value) VALUES (?, ?)`);
      out.transaction(() => {
        put.run('format', BACKUP_FORMAT);
        put.run('created-at', String(now));
        put.run('jobs', String(jobs));
        for (const [name, value] of Object.entries(secrets)) put.run(`secret:${name}`, value);
      })();
    } finally {
      out.close();
    }
    fsyncPath(tmp);
    renameSync(tmp, outFile);
    fsyncPath(dirname(outFile));
    ok = true;
    return { file: outFile, bytes: statSync(outFile).size, jobs, schemaVersion, ms: performance.now() - started };
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw new StoreError(`backup of ${dbPath} failed: ${(e as Error).message}`, { cause: e });
  } finally {
    if (!ok) rmSync(tmp, { force: true });
  }
}

/** What a backup file holds, checked: format, integrity, a schema this picluster knows. */
export function inspectBackup(file: string): { jobs: number; schemaVersion: number; createdAt: number; secrets: Record<string, string> } {
  if (!existsSync(file)) throw new StoreError(`no backup file at ${file}`);
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new StoreError(`${file} is not a picluster backup: ${(e as Error).message}`, { cause: e });
  }
  try {
    let rows: { key: string; value: string }[];
    try {
      rows = db.prepare(`SELECT key, value FROM ${TABLE}`).all() as { key: string; value: string }[];
    } catch {
      throw new StoreError(`${file} is not a picluster backup (no ${TABLE} table; made with picluster backup?)`);
    }
    const meta = new Map(rows.map((r) => [r.key, r.value]));
    if (meta.get('format') !== BACKUP_FORMAT)
      throw new StoreError(`${file} has backup format ${meta.get('format')}; this picluster reads format ${BACKUP_FORMAT}`);
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new StoreError(`${file} is damaged (quick_check: ${String(check)})`);
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (schemaVersion > latest)
      throw new StoreError(`${file} is at schema version ${schemaVersion}, newer than this picluster knows (${latest}); upgrade picluster`);
    const secrets: Record<string, string> = {};
    for (const [k, v] of meta) if (k.startsWith('secret:')) secrets[k.slice('secret:'.length)] = v;
    return { jobs: Number(meta.get('jobs')), schemaVersion, createdAt: Number(meta.get('created-at')), secrets };
  } finally {
    db.close();
  }
}

/** Puts the backup in place of `dbPath` (the master must be stopped: the caller checks). */
export function restoreDatabase(file: string, dbPath: string, now = Date.now()): RestoreSummary {
  const started = performance.now();
  const info = inspectBackup(file);
  const tmp = `${dbPath}.restore-${randomBytes(4).toString('hex')}.tmp`;
  copyFileSync(file, tmp);
  chmodSync(tmp, 0o600);
  let ok = false;
  try {
    const db = new Database(tmp);
    try {
      db.exec(`DROP TABLE ${TABLE}`);
      db.pragma('journal_mode = WAL');
    } finally {
      db.close();
    }
    for (const suffix of ['-wal', '-shm']) rmSync(tmp + suffix, { force: true });
    fsyncPath(tmp);
    let previous: string | undefined;
    if (existsSync(dbPath)) {
      previous = `${dbPath}.pre-restore-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
      // The -wal goes with its database (it may hold its last commits); the -shm is rebuilt.
      renameSync(dbPath, previous);
      if (existsSync(dbPath + '-wal')) renameSync(dbPath + '-wal', previous + '-wal');
    }
    rmSync(dbPath + '-wal', { force: true });
    rmSync(dbPath + '-shm', { force: true });
    renameSync(tmp, dbPath);
    fsyncPath(dirname(dbPath));
    ok = true;
    return {
      jobs: info.jobs,
      schemaVersion: info.schemaVersion,
      createdAt: info.createdAt,
      secrets: info.secrets,
      ...(previous ? { previous } : {}),
      ms: performance.now() - started,
    };
  } finally {
    if (!ok) for (const suffix of ['', '-wal', '-shm']) rmSync(tmp + suffix, { force: true });
  }
}
