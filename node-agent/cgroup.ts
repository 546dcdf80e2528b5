/**
 * One cgroup v2 per job, where the kernel lets the agent have them. A job's cgroup catches every
 * process the job starts, including one that calls `setsid()` and so leaves the job's process
 * group: cancel and timeout kill the whole cgroup (`cgroup.kill`), its `cpu.stat` counts the CPU
 * time of the whole tree, and with the controllers delegated, `memory.max` / `cpu.max` /
 * `pids.max` enforce the job's limits and `memory.peak` measures it.
 *
 * Layout: `<agent's own cgroup>/picluster-<node>-<agent pid>/attempt-<id>`. Controllers are
 * enabled in the agent's cgroup only when it is the hierarchy's root (a netbooted node, where
 * the agent is the machine's purpose); elsewhere the agent uses what its cgroup already
 * delegates. Everything that parses kernel text is a pure function; the classes do the I/O.
 */
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Limits } from '../common/protocol.ts';
import type { Logger } from '../common/logger.ts';
import { isAlive } from './process-tree.ts';

export const WANTED_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

export interface IsolationInfo {
  readonly kind: 'cgroup' | 'process-group';
  readonly controllers?: string[];
  readonly note?: string;
}

/** `/proc/self/cgroup` → the unified (v2) path, `0::/a/b` → `/a/b`. */
export function parseProcCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) if (line.startsWith('0::')) return line.slice(3).trim() || '/';
  return undefined;
}

/** `/proc/self/mountinfo` → the first cgroup2 mount: its mount point and the hierarchy path at its root. */
export function findCgroup2Mount(mountinfo: string): { mountPoint: string; root: string; superOptions: string[] } | undefined {
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash === -1) continue;
    const [fstype, , superOpts] = line.slice(dash + 3).split(' ');
    if (fstype !== 'cgroup2') continue;
    const fields = line.slice(0, dash).split(' ');
    if (fields.length < 5) continue;
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    return { root: unescape(fields[3]!), mountPoint: unescape(fields[4]!), superOptions: (superOpts ?? '').split(',').filter(Boolean) };
  }
  return undefined;
}

/** The directory of the agent's own cgroup, or why there is none. */
export function locateOwnCgroup(
  procCgroup: string | undefined,
  mountinfo: string | undefined,
): { dir: string; isRoot: boolean; favordynmods: boolean } | { note: string } {
  const own = procCgroup === undefined ? undefined : parseProcCgroup(procCgroup);
  if (own === undefined) return { note: 'no cgroup v2 entry in /proc/self/cgroup' };
  const mount = mountinfo === undefined ? undefined : findCgroup2Mount(mountinfo);
  if (!mount) return { note: 'cgroup2 is not mounted (mount -t cgroup2 none /sys/fs/cgroup)' };
  const rel = posix.relative(mount.root, own);
  if (rel.startsWith('..')) return { note: `this process's cgroup ${own} is outside the cgroup2 mount at ${mount.mountPoint}` };
  return { dir: join(mount.mountPoint, rel), isRoot: own === '/' && mount.root === '/', favordynmods: mount.superOptions.includes('favordynmods') };
}

export const parseControllers = (text: string | undefined): string[] => (text ?? '').split(/\s+/).filter(Boolean);

/** `cpu.stat` → CPU time in ms (`usage_usec`). */
export function parseCpuStatMs(text: string): number | undefined {
  const m = /^usage_usec (\d+)$/m.exec(text);
  return m ? Math.round(Number(m[1]) / 1000) : undefined;
}

/** The files a job cgroup gets for its limits, and the limits these controllers cannot enforce. */
export function limitWrites(limits: Limits | undefined, controllers: readonly string[]): { writes: [file: string, value: string][]; unenforced: string[] } {
  const writes: [string, string][] = [];
  const unenforced: string[] = [];
  const want = (key: keyof Limits, controller: string, file: string, value: string) => {
    if (controllers.includes(controller)) writes.push([file, value]);
    else unenforced.push(key);
  };
  const periodUs = 100_000;
  if (limits?.memoryMb !== undefined) {
    want('memoryMb', 'memory', 'memory.max', String(limits.memoryMb * 1024 * 1024));
    // Without this, a job over memory.max is pushed into swap instead of being OOM-killed.
    if (controllers.includes('memory')) writes.push(['memory.swap.max', '0']);
  }
  if (limits?.cpus !== undefined) want('cpus', 'cpu', 'cpu.max', `${Math.max(1000, Math.round(limits.cpus * periodUs))} ${periodUs}`);
  if (limits?.pids !== undefined) want('pids', 'pids', 'pids.max', String(limits.pids));
  return { writes, unenforced };
}

const LIMIT_OF_FILE: Record<string, keyof Limits> = { 'memory.max': 'memoryMb', 'cpu.max': 'cpus', 'pids.max': 'pids' };
const readText = (path: string) => readFile(path, 'utf8').catch(() => undefined);
const safeName = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
const errMessage = (e: unknown) => (e as Error).message;

export interface JobUsage {
  readonly cpuMs?: number;
  readonly peakMemoryBytes?: number;
}

/** One job's cgroup. Every method is bounded and never throws (a vanished cgroup is an empty one). */
export class JobCgroup {
  constructor(
    readonly path: string,
    readonly controllers: readonly string[],
    /** Asked limits these controllers cannot enforce. */
    readonly unenforced: readonly string[],
  ) {}

  get procsFile(): string {
    return join(this.path, 'cgroup.procs');
  }

  async pids(): Promise<number[]> {
    return parseControllers(await readText(this.procsFile))
      .map(Number)
      .filter((n) => Number.isSafeInteger(n) && n > 0);
  }

  /** Signals every process in the cgroup (including those that left the job's process group). */
  async signalAll(signal: NodeJS.Signals): Promise<void> {
    for (const pid of await this.pids()) {
      try {
        process.kill(pid, signal);
      } catch {
        /* gone */
      }
    }
  }

  /** SIGKILLs everything in it (`cgroup.kill`, or one by one on kernels before 5.14) and waits until it is empty. */
  async kill(waitMs = 2000): Promise<boolean> {
    const viaFile = await writeFile(join(this.path, 'cgroup.kill'), '1').then(
      () => true,
      () => false,
    );
    const deadline = Date.now() + waitMs;
    for (;;) {
      const pids = await this.pids();
      if (pids.length === 0) return true;
      if (Date.now() > deadline) return false;
      if (!viaFile) await this.signalAll('SIGKILL');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async usage(): Promise<JobUsage> {
    const [cpu, peak] = await Promise.all([
      readText(join(this.path, 'cpu.stat')),
      this.controllers.includes('memory') ? readText(join(this.path, 'memory.peak')) : undefined,
    ]);
    const cpuMs = cpu === undefined ? undefined : parseCpuStatMs(cpu);
    const peakBytes = peak === undefined ? NaN : Number(peak.trim());
    return { ...(cpuMs !== undefined ? { cpuMs } : {}), ...(Number.isFinite(peakBytes) ? { peakMemoryBytes: peakBytes } : {}) };
  }

  /** Kills what is left and removes the directory. */
  async remove(log: Logger): Promise<void> {
    await this.kill();
    await rmdir(this.path).catch((e: unknown) => log.warn({ err: e, cgroup: this.path }, 'cannot remove job cgroup'));
  }
}

/** The agent's per-job cgroups, under `<own cgroup>/picluster-<node>-<pid>`. */
export class JobCgroups {
  private constructor(
    readonly root: string,
    readonly controllers: readonly string[],
    readonly info: IsolationInfo,
    private readonly log: Logger,
  ) {}

  /**
   * Sets up the jobs' parent cgroup, or says why jobs run in process groups only. `files` lets
   * tests point it at a fake tree; `enableInOwn` allows enabling controllers in the agent's own
   * cgroup (default: only when it is the hierarchy's root).
   */
  static async create(o: {
    nodeName: string;
    log: Logger;
    procCgroup?: string | undefined;
    mountinfo?: string | undefined;
    enableInOwn?: boolean;
  }): Promise<JobCgroups | { info: IsolationInfo }> {
    const [procCgroup, mountinfo] =
      'procCgroup' in o || 'mountinfo' in o
        ? [o.procCgroup, o.mountinfo]
        : await Promise.all([readText('/proc/self/cgroup'), readText('/proc/self/mountinfo')]);
    const own = locateOwnCgroup(procCgroup, mountinfo);
    if ('note' in own) return { info: { kind: 'process-group', note: own.note } };
    const root = join(own.dir, `picluster-${safeName(o.nodeName)}-${process.pid}`);
    try {
      await mkdir(root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        return { info: { kind: 'process-group', note: `cannot create a cgroup under ${own.dir}: ${errMessage(e)}` } };
    }
    const available = parseControllers(await readText(join(own.dir, 'cgroup.controllers')));
    if (o.enableInOwn ?? own.isRoot) {
      for (const c of WANTED_CONTROLLERS) {
        if (available.includes(c)) await writeFile(join(own.dir, 'cgroup.subtree_control'), `+${c}`).catch(() => undefined);
      }
    }
    const delegated = parseControllers(await readText(join(own.dir, 'cgroup.subtree_control'))).filter((c) =>
      (WANTED_CONTROLLERS as readonly string[]).includes(c),
    );
    for (const c of delegated) await writeFile(join(root, 'cgroup.subtree_control'), `+${c}`).catch(() => undefined);
    const controllers = parseControllers(await readText(join(root, 'cgroup.subtree_control'))).filter((c) =>
      (WANTED_CONTROLLERS as readonly string[]).includes(c),
    );
    const missing = WANTED_CONTROLLERS.filter((c) => !controllers.includes(c));
    const notes = [
      ...(missing.length
        ? [
            `controllers ${missing.join(', ')} are not delegated to ${own.dir} (bound to cgroup v1, or not enabled in its parent's cgroup.subtree_control): those limits are not enforced`,
          ]
        : []),
      // Without it every move into a cgroup waits for an RCU grace period (kernel ≥ 6.0 has the option).
      ...(own.favordynmods ? [] : ['cgroup2 is mounted without favordynmods: each job start waits for one cgroup migration (10–50 ms on a busy machine)']),
    ];
    const note = notes.length ? notes.join('; ') : undefined;
    const info: IsolationInfo = { kind: 'cgroup', controllers, ...(note ? { note } : {}) };
    return new JobCgroups(root, controllers, info, o.log);
  }

  /** A parent cgroup whose controllers are already known (tests point it at a plain directory). */
  static at(root: string, controllers: readonly string[], log: Logger): JobCgroups {
    return new JobCgroups(root, controllers, { kind: 'cgroup', controllers: [...controllers] }, log);
  }

  async forAttempt(attemptId: number, limits: Limits | undefined): Promise<JobCgroup> {
    const path = join(this.root, `attempt-${attemptId}`);
    await mkdir(path, { recursive: true });
    const { writes, unenforced } = limitWrites(limits, this.controllers);
    for (const [file, value] of writes) {
      try {
        await writeFile(join(path, file), value);
      } catch (e) {
        // memory.swap.max is absent without swap accounting; anything else means the limit is off.
        if (file !== 'memory.swap.max') {
          this.log.warn({ err: e, file, value }, 'cannot set a job limit');
          unenforced.push(LIMIT_OF_FILE[file] ?? file);
        }
      }
    }
    return new JobCgroup(path, this.controllers, unenforced);
  }

  /**
   * Kills and removes job cgroups left by agents that are no longer alive (crashed, SIGKILLed),
   * whatever node they ran for: `picluster-<node>-<pid>` with that pid gone. A live agent's are
   * left alone (a reused pid only delays the cleanup).
   */
  async reapStale(): Promise<string[]> {
    const parent = join(this.root, '..');
    const reaped: string[] = [];
    const entries = await readdir(parent).catch(() => [] as string[]);
    for (const entry of entries) {
      const m = /^picluster-.+-(\d+)$/.exec(entry);
      if (!m) continue;
      const pid = Number(m[1]);
      if (!Number.isSafeInteger(pid) || pid === process.pid || isAlive(pid)) continue;
      const dir = join(parent, entry);
      for (const child of await readdir(dir).catch(() => [] as string[])) {
        if (child.startsWith('attempt-')) await new JobCgroup(join(dir, child), [], []).remove(this.log);
      }
      await rmdir(dir).catch(() => undefined);
      reaped.push(dir);
    }
    return reaped;
  }

  /** Removes the (empty) parent at agent stop. */
  async close(): Promise<void> {
    await rmdir(this.root).catch(() => undefined);
  }
}
