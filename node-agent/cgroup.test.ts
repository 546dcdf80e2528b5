import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/logger.ts';
import type { JobSpec } from '../common/protocol.ts';
import { findCgroup2Mount, JobCgroups, limitWrites, locateOwnCgroup, parseCpuStatMs, parseProcCgroup } from './cgroup.ts';
import { isAlive } from './process-tree.ts';
import { Runner } from './runner.ts';

const log = silentLogger();

describe('cgroup parsers (pure)', () => {
  it.each([
    ['0::/\n', '/'],
    ['12:pids:/x\n0::/system.slice/picluster.service\n', '/system.slice/picluster.service'],
    ['4:memory:/a\n1:cpu:/\n', undefined],
  ])('/proc/self/cgroup %j → %s', (text, path) => expect(parseProcCgroup(text)).toBe(path));

  const hybrid = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');
  it('finds the cgroup2 mount among v1 ones (a hybrid hierarchy)', () => {
    expect(findCgroup2Mount(hybrid)).toEqual({ root: '/', mountPoint: '/sys/fs/cgroup/unified', superOptions: ['rw'] });
    expect(findCgroup2Mount('35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory')).toBeUndefined();
    expect(findCgroup2Mount('41 31 0:38 / /mnt/with\\040space rw - cgroup2 none rw,nsdelegate,favordynmods')).toEqual({
      root: '/',
      mountPoint: '/mnt/with space',
      superOptions: ['rw', 'nsdelegate', 'favordynmods'],
    });
  });

  it.each([
    ['0::/\n', hybrid, { dir: '/sys/fs/cgroup/unified', isRoot: true, favordynmods: false }],
    [
      '0::/agent.slice/a\n',
      '7 1 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,favordynmods',
      { dir: '/sys/fs/cgroup/agent.slice/a', isRoot: false, favordynmods: true },
    ],
    ['0::/ns/a\n', '7 1 0:1 /ns /sys/fs/cgroup rw - cgroup2 cgroup2 rw', { dir: '/sys/fs/cgroup/a', isRoot: false, favordynmods: false }],
    ['0::/other\n', '7 1 0:1 /ns /sys/fs/cgroup rw - cgroup2 cgroup2 rw', { note: expect.stringContaining('outside') }],
    ['1:cpu:/\n', hybrid, { note: expect.stringContaining('no cgroup v2 entry') }],
    ['0::/\n', '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory', { note: expect.stringContaining('not mounted') }],
  ])('own cgroup from %j', (proc, mounts, want) => expect(locateOwnCgroup(proc, mounts)).toEqual(want));

  it('reads usage_usec from cpu.stat as ms', () => {
    expect(parseCpuStatMs('usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n')).toBe(1235);
    expect(parseCpuStatMs('user_usec 1\n')).toBeUndefined();
  });

  it.each([
    [
      { memoryMb: 64 },
      ['memory'],
      [
        ['memory.max', String(64 * 1024 * 1024)],
        ['memory.swap.max', '0'],
      ],
      [],
    ],
    [{ cpus: 0.5 }, ['cpu'], [['cpu.max', '50000 100000']], []],
    [
      { cpus: 2, pids: 10 },
      ['cpu', 'pids'],
      [
        ['cpu.max', '200000 100000'],
        ['pids.max', '10'],
      ],
      [],
    ],
    [{ memoryMb: 64, cpus: 1 }, [], [], ['memoryMb', 'cpus']],
    [undefined, ['cpu', 'memory', 'pids'], [], []],
  ] as const)('limits %j with controllers %j', (limits, controllers, writes, unenforced) => {
    expect(limitWrites(limits, controllers)).toEqual({ writes, unenforced });
  });
});

describe('job cgroups on a plain directory (what gets written)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'picluster-fake-cgroup-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes the limits of an attempt into its own directory, and lists what it cannot enforce', async () => {
    const cgroups = JobCgroups.at(dir, ['memory', 'pids'], log);
    const cg = await cgroups.forAttempt(7, { memoryMb: 32, cpus: 1, pids: 5 });
    expect(cg.path).toBe(join(dir, 'attempt-7'));
    expect(readFileSync(join(cg.path, 'memory.max'), 'utf8')).toBe(String(32 * 1024 * 1024));
    expect(readFileSync(join(cg.path, 'pids.max'), 'utf8')).toBe('5');
    expect(existsSync(join(cg.path, 'cpu.max'))).toBe(false);
    expect(cg.unenforced).toEqual(['cpus']);
  });

  it('reads cpu.stat and memory.peak as the usage', async () => {
    const cg = await JobCgroups.at(dir, ['memory'], log).forAttempt(1, undefined);
    await writeFile(join(cg.path, 'cpu.stat'), 'usage_usec 2500\n');
    await writeFile(join(cg.path, 'memory.peak'), '1048576\n');
    expect(await cg.usage()).toEqual({ cpuMs: 3, peakMemoryBytes: 1048576 });
  });

  it('reaps the job cgroups of dead agents (any node), not those of live ones', async () => {
    const dead = join(dir, 'picluster-n1-999999999');
    const live = join(dir, `picluster-n1-${process.pid}`);
    const other = join(dir, 'picluster-n2-999999999');
    for (const d of [dead, live, other]) await mkdir(join(d, 'attempt-1'), { recursive: true });
    const cgroups = JobCgroups.at(live, [], log);
    const reaped = await cgroups.reapStale();
    expect(reaped.sort()).toEqual([dead, other].sort());
    expect(existsSync(live)).toBe(true);
  });
});

// ── the real thing, where this machine lets the agent have cgroups ───────────────────────────
const real = await JobCgroups.create({ nodeName: `cgtest-${process.pid}`, log });
const cgroups = real instanceof JobCgroups ? real : undefined;
const noCgroup = cgroups ? '' : `no cgroup v2 for jobs here: ${(real as { info: { note?: string } }).info.note}`;
const noMemory = !cgroups
  ? noCgroup
  : cgroups.controllers.includes('memory')
    ? ''
    : `the memory controller is not delegated to cgroup v2 here (${cgroups.info.note})`;
afterAll(async () => {
  await cgroups?.close();
});

describe(`a job's cgroup on this machine${noCgroup ? ` — skipped: ${noCgroup}` : ''}`, () => {
  let workDir: string;
  let out: string;
  const strays: number[] = [];
  beforeEach(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'picluster-cg-work-'));
    out = await mkdtemp(join(tmpdir(), 'picluster-cg-out-'));
  });
  afterEach(async () => {
    for (const pid of strays.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await rm(workDir, { recursive: true, force: true });
    await rm(out, { recursive: true, force: true });
  });
  let attempt = 1;
  const runner = (withCgroups: boolean) =>
    new Runner({ workDir, nodeName: 'cgtest', log, killGraceMs: 300, flushMs: 20, ...(withCgroups && cgroups ? { cgroups } : {}) });
  const pidIn = async (file: string) => {
    await expect.poll(() => existsSync(file) && /^\d+\s*$/.test(readFileSync(file, 'utf8')), { timeout: 10_000, interval: 20 }).toBe(true);
    const pid = Number(readFileSync(file, 'utf8').trim());
    strays.push(pid);
    return pid;
  };
  // The background child calls setsid(): a new session and process group, out of reach of kill(-pgid).
  const escaping = (): JobSpec => ({
    kind: 'exec',
    argv: ['sh', '-c', 'setsid sh -c \'echo $$ > "$OUT/escapee.pid"; exec sleep 300\' & wait'],
    env: { OUT: out },
  });

  it.skipIf(!!noCgroup)('cancel kills a process that left the job with setsid', async () => {
    const a = runner(true).start({ attemptId: attempt++, jobId: 1, spec: escaping(), outputLimitBytes: 4096 }, () => {});
    const escapee = await pidIn(join(out, 'escapee.pid'));
    expect(a.cgroup()).toBeDefined();
    a.cancel('test');
    expect((await a.done).outcome).toBe('cancelled');
    await expect.poll(() => isAlive(escapee), { timeout: 5000, interval: 20 }).toBe(false);
    expect(existsSync(a.cgroup()!)).toBe(false); // removed after the attempt
  });

  it.skipIf(!!noCgroup)('…which the process-group kill alone misses (the reason for cgroups)', async () => {
    const a = runner(false).start({ attemptId: attempt++, jobId: 1, spec: escaping(), outputLimitBytes: 4096 }, () => {});
    const escapee = await pidIn(join(out, 'escapee.pid'));
    a.cancel('test');
    expect((await a.done).outcome).toBe('cancelled');
    expect(isAlive(escapee)).toBe(true);
  });

  it.skipIf(!!noCgroup)('counts the CPU time of the whole tree from cpu.stat', async () => {
    const busy = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done';
    const spec: JobSpec = { kind: 'exec', argv: ['sh', '-c', `(${busy}) & (${busy}) & wait`] };
    const r = await runner(true).start({ attemptId: attempt++, jobId: 1, spec, outputLimitBytes: 4096 }, () => {}).done;
    expect(r.outcome).toBe('succeeded');
    expect(r.accounting).toMatchObject({ isolation: 'cgroup', cpu: 'cgroup' });
    expect(r.cpuMs).toBeGreaterThan(50);
    expect((await readdir(cgroups!.root)).filter((e) => e.startsWith('attempt-'))).toEqual([]);
  });

  it.skipIf(!!noCgroup)('a missing program still fails with the spawn error', async () => {
    const spec: JobSpec = { kind: 'exec', argv: ['picluster-no-such-program'] };
    const r = await runner(true).start({ attemptId: attempt++, jobId: 1, spec, outputLimitBytes: 4096 }, () => {}).done;
    expect(r).toMatchObject({ outcome: 'failed' });
    expect(r.error).toMatch(/ENOENT/);
  });

  it.skipIf(!!noCgroup || !noMemory)('says which asked limits it cannot enforce here', async () => {
    const spec: JobSpec = { kind: 'exec', argv: ['true'], limits: { memoryMb: 64 } };
    const r = await runner(true).start({ attemptId: attempt++, jobId: 1, spec, outputLimitBytes: 4096 }, () => {}).done;
    expect(r.accounting?.unenforced).toContain('memoryMb');
  });

  it.skipIf(!!noMemory)(`memory.max is enforced: a job over its limit is killed${noMemory ? ` — skipped: ${noMemory}` : ''}`, async () => {
    const spec: JobSpec = { kind: 'exec', argv: ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo ${#x}'], limits: { memoryMb: 16 } };
    const r = await runner(true).start({ attemptId: attempt++, jobId: 1, spec, outputLimitBytes: 4096 }, () => {}).done;
    expect(r.outcome).toBe('failed');
    expect(r.accounting?.memory).toBe('cgroup');
    expect(r.accounting?.unenforced).toBeUndefined();
  });
});
