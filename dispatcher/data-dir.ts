/**
 * The data dir's safety: modes (dir 0700; database, its -wal/-shm and the secrets 0600, fixed at
 * every start when wrong) and `master.pid`, which says a master is running on it (`picluster
 * restore` refuses then). A pid file left by a killed master names a dead process: ignored.
 */
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN_FILE, CLUSTER_SECRET_FILE } from './secrets.ts';

export const DB_FILE = 'picluster.db';
export const PID_FILE = 'master.pid';
const PRIVATE_FILES = [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`, CLUSTER_SECRET_FILE, ADMIN_TOKEN_FILE, PID_FILE];

/** Sets the modes; → what was changed (`path: 0644 → 0600`), for a warning. */
export function secureDataDir(dataDir: string): string[] {
  const fixed: string[] = [];
  const fix = (path: string, mode: number) => {
    let current: number;
    try {
      current = statSync(path).mode & 0o777;
    } catch {
      return;
    }
    if (current === mode) return;
    chmodSync(path, mode);
    fixed.push(`${path}: ${current.toString(8).padStart(4, '0')} → ${mode.toString(8).padStart(4, '0')}`);
  };
  fix(dataDir, 0o700);
  for (const f of PRIVATE_FILES) fix(join(dataDir, f), 0o600);
  return fixed;
}

export function writePidFile(dataDir: string, pid = process.pid): void {
  writeFileSync(join(dataDir, PID_FILE), `${pid}\n`, { mode: 0o600 });
}

/** Removes the pid file if it is this process's. */
export function removePidFile(dataDir: string, pid = process.pid): void {
  if (runningMasterPid(dataDir) === pid) rmSync(join(dataDir, PID_FILE), { force: true });
}

/** The pid of the master running on `dataDir`, or undefined (no pid file, or its process is gone). */
export function runningMasterPid(dataDir: string): number | undefined {
  const path = join(dataDir, PID_FILE);
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, 'utf8').trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (e) {
    // EPERM: it exists but belongs to another user (the service user): still running.
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}
