/**
 * Jobs run in their own process group (`spawn(..., { detached: true })` makes the child a session
 * and group leader), so one signal to `-pid` reaches everything the job forked. A process that
 * calls setsid() itself escapes the group; containing that needs cgroups (not done here).
 */
import { readFileSync } from 'node:fs';

/** Signals the whole group led by `pid`; false when it no longer exists. */
export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

/** True when `pid` runs; a zombie (exited, not yet reaped by its parent or init) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (macOS): kill(0) succeeded
  }
}
