/**
 * `picluster backup <file>`, `picluster restore <file>` (on the master's host, on its data dir)
 * and `picluster prune` (through the running master's REST API: the master is the only writer).
 *
 * Backup and restore work on the files, not through the API: they need no running master and
 * no token (they run as the service user, who can read the data dir anyway), the secrets never
 * cross the network, and a backup of a large database does not block the master's event loop —
 * it is another process reading a WAL snapshot (docs/backup.md).
 */
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../common/config.ts';
import { DB_FILE, runningMasterPid } from '../../dispatcher/data-dir.ts';
import { ADMIN_TOKEN_FILE, CLUSTER_SECRET_FILE } from '../../dispatcher/secrets.ts';
import { StoreError } from '../../dispatcher/store/errors.ts';
import { backupDatabase, restoreDatabase } from '../../dispatcher/store/sqlite-backup.ts';
import { parseFlags, UsageError } from '../args.ts';
import { cluster, common, wrap } from './client-commands.ts';

const dirFlags = { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

/**
 * The data dir as the master would use it: --data-dir, else the config (FILE, $PICLUSTER_CONFIG, ./picluster.yaml), else ./data.
 * Backup and restore copy the SQLite file: a config naming another engine is refused (`what` names the command).
 */
function dataDirOf(values: { config?: string; 'data-dir'?: string }, what: string): string {
  if (values['data-dir'] !== undefined) return resolve(values['data-dir']);
  const file = values.config ?? process.env.PICLUSTER_CONFIG ?? 'picluster.yaml';
  const config = loadConfig({ file, required: values.config !== undefined || process.env.PICLUSTER_CONFIG !== undefined, env: process.env });
  if (config.store.kind !== 'sqlite') {
    throw new StoreError(
      `picluster ${what} copies the SQLite database; this configuration's store is ${config.store.kind} (store.kind): use that engine's own tools (pg_dump / pg_restore), docs/backup.md`,
    );
  }
  return resolve(config.dataDir);
}

const err = (s: string) => process.stderr.write(s + '\n');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

const BACKUP_USAGE = `usage: picluster backup <file> [--data-dir DIR | --config FILE]

Writes one consistent copy of the master's database, with its cluster secret and admin token,
to <file> (0600; never overwrites). Safe while the master runs. Run it as the service user
(sudo -u picluster picluster backup ...). Input files and artifacts (<dataDir>/files,
<dataDir>/artifacts) are not in it: copy those directories (docs/backup.md).`;

export const backupCommand = wrap(BACKUP_USAGE, async (argv) => {
  const { values, positionals } = parseFlags(argv, dirFlags, true);
  if (positionals.length !== 1) throw new UsageError('backup takes one file name');
  const dataDir = dataDirOf(values, 'backup');
  const secrets: Record<string, string> = {};
  for (const name of [CLUSTER_SECRET_FILE, ADMIN_TOKEN_FILE]) {
    const path = join(dataDir, name);
    if (existsSync(path)) secrets[name] = readFileSync(path, 'utf8').trim();
  }
  const s = backupDatabase(join(dataDir, DB_FILE), resolve(positionals[0]!), secrets);
  err(`backup: ${s.jobs} jobs, schema ${s.schemaVersion}, ${mb(s.bytes)} in ${(s.ms / 1000).toFixed(1)} s → ${s.file}`);
  err(`it holds ${Object.keys(secrets).join(' and ') || 'no secrets (they are configured, not in the data dir)'}: keep it like a password`);
  return 0;
});

const RESTORE_USAGE = `usage: picluster restore <file> [--data-dir DIR | --config FILE]

Puts a file made by picluster backup in place of the master's database and secrets. The master
must be stopped (systemctl stop picluster-master); the database it replaces is kept beside it
as picluster.db.pre-restore-<time>.`;

export const restoreCommand = wrap(RESTORE_USAGE, async (argv) => {
  const { values, positionals } = parseFlags(argv, dirFlags, true);
  if (positionals.length !== 1) throw new UsageError('restore takes one file name');
  const dataDir = dataDirOf(values, 'restore');
  const pid = runningMasterPid(dataDir);
  if (pid !== undefined) {
    throw new StoreError(`a master (pid ${pid}) is running on ${dataDir}: stop it first (sudo systemctl stop picluster-master), then restore`);
  }
  if (!existsSync(dataDir)) throw new StoreError(`data dir ${dataDir} does not exist (create it 0700, owned by the service user)`);
  const s = restoreDatabase(resolve(positionals[0]!), join(dataDir, DB_FILE));
  for (const [name, value] of Object.entries(s.secrets)) {
    if (name !== CLUSTER_SECRET_FILE && name !== ADMIN_TOKEN_FILE) continue;
    writeFileSync(join(dataDir, name), value + '\n', { mode: 0o600 });
    chmodSync(join(dataDir, name), 0o600);
  }
  err(`restored: ${s.jobs} jobs, schema ${s.schemaVersion}, backup of ${new Date(s.createdAt).toISOString()}, in ${(s.ms / 1000).toFixed(1)} s`);
  err(`secrets restored: ${Object.keys(s.secrets).join(', ') || 'none'}${s.previous ? `; the replaced database is ${s.previous}` : ''}`);
  err('start the master; jobs that ran after the backup are requeued when their nodes report them unknown');
  return 0;
});

const PRUNE_USAGE = `usage: picluster prune [--older-than-days N] [--json] [--url URL] [--token T]

Asks the running master to delete finished jobs (with their attempts, output and artifacts)
that finished more than N days ago (default store.jobHistoryDays), in small batches between
which dispatch goes on.`;

export const pruneCommand = wrap(PRUNE_USAGE, async (argv) => {
  const { values } = parseFlags(argv, { ...common, 'older-than-days': { type: 'string' } });
  let days: number | undefined;
  if (values['older-than-days'] !== undefined) {
    days = Number(values['older-than-days']);
    if (!Number.isFinite(days) || days < 0) throw new UsageError('--older-than-days takes a number of days ≥ 0');
  }
  const r = await cluster(values).prune(days === undefined ? {} : { olderThanDays: days });
  if (values.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else process.stdout.write(`pruned ${r.jobs} jobs, ${r.attempts} attempts, ${r.artifacts} artifacts in ${r.batches} batches (${r.ms} ms)\n`);
  return 0;
});
