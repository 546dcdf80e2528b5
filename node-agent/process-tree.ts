/**
 * Jobs run in their own process group (`spawn(..., { detached: true })` makes the child a session
 * and group leader), so one signal to `-pid` reaches everything the job forked. A process that
 * calls setsid() itself escapes the group; containing that needs cgroups (not done here).
 */
import { readdirSync, readFileSync } from 'node:fs';

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

/**
 * Jobs left behind by a previous agent process for this node (it was killed with SIGKILL or
 * crashed, so it could not kill their groups): processes whose environment carries
 * `PICLUSTER_NODE=<node>`, a `PICLUSTER_ATTEMPT_ID`, and a `PICLUSTER_AGENT_PID` that is no longer
 * alive (the runner sets these last, so a job cannot override them). Jobs of another live agent
 * with the same name on this machine (tests) are left alone. Linux only (/proc).
 */
export function findJobProcesses(nodeName: string, procDir = '/proc'): number[] {
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return [];
  }
  const wantNode = `PICLUSTER_NODE=${nodeName}`;
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`${procDir}/${entry}/environ`, 'latin1');
    } catch {
      continue; // gone, or another user's
    }
    const vars = environ.split('\0');
    if (!vars.includes(wantNode) || !vars.some((v) => v.startsWith('PICLUSTER_ATTEMPT_ID='))) continue;
    const owner = Number(vars.find((v) => v.startsWith('PICLUSTER_AGENT_PID='))?.slice('PICLUSTER_AGENT_PID='.length));
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) continue;
    found.push(Number(entry));
  }
  return found;
}

/** SIGKILLs the leftovers `findJobProcesses` finds; returns their pids. */
export function reapOrphanJobs(nodeName: string, procDir = '/proc'): number[] {
  const pids = findJobProcesses(nodeName, procDir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return pids;
}
