import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/logger.ts';
import type { JobSpec } from '../common/protocol.ts';
import { isAlive } from './process-tree.ts';
import { Runner, type AttemptRequest, type OutputStream } from './runner.ts';

let workDir: string;
let testDir: string;
let nextAttempt = 1;
const spawned: number[] = [];

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'picluster-runner-work-'));
  testDir = await mkdtemp(join(tmpdir(), 'picluster-runner-test-'));
});
afterEach(async () => {
  for (const pid of spawned.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await rm(workDir, { recursive: true, force: true });
  await rm(testDir, { recursive: true, force: true });
});

function makeRunner(extra: Partial<ConstructorParameters<typeof Runner>[0]> = {}): Runner {
  return new Runner({ workDir, nodeName: 'node6.lan', log: silentLogger(), killGraceMs: 500, flushMs: 20, ...extra });
}

function run(spec: JobSpec, opts: Partial<AttemptRequest> = {}, runner = makeRunner()) {
  const output: { stream: OutputStream; data: string }[] = [];
  const attempt = runner.start({ attemptId: nextAttempt++, jobId: 42, spec, outputLimitBytes: 64 * 1024, ...opts }, (stream, data) =>
    output.push({ stream, data }),
  );
  return { attempt, output };
}

const sh = (script: string, extra: Partial<Extract<JobSpec, { kind: 'exec' }>> = {}): JobSpec => ({ kind: 'exec', argv: ['sh', '-c', script], ...extra });

/** Waits until the file exists and holds a pid; records it for cleanup. */
async function pidFrom(path: string): Promise<number> {
  await expect.poll(() => existsSync(path) && /^\d+\s*$/.test(readFileSync(path, 'utf8')), { timeout: 10_000, interval: 20 }).toBe(true);
  const pid = Number(readFileSync(path, 'utf8').trim());
  spawned.push(pid);
  return pid;
}

describe('exec jobs', () => {
  it('succeeds with exit 0 and streams stdout/stderr as output frames', async () => {
    const { attempt, output } = run(sh('echo out; echo err >&2'));
    const r = await attempt.done;
    expect(r).toMatchObject({ attemptId: attempt.attemptId, jobId: 42, outcome: 'succeeded', exitCode: 0, signal: null, stdout: 'out\n', stderr: 'err\n' });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    expect(
      output
        .filter((o) => o.stream === 'stdout')
        .map((o) => o.data)
        .join(''),
    ).toBe('out\n');
    expect(
      output
        .filter((o) => o.stream === 'stderr')
        .map((o) => o.data)
        .join(''),
    ).toBe('err\n');
  });

  it('reports a non-zero exit as failed with its code', async () => {
    const r = await run(sh('exit 3')).attempt.done;
    expect(r).toMatchObject({ outcome: 'failed', exitCode: 3, signal: null, error: 'exit code 3' });
  });

  it('reports death by signal as failed with the signal', async () => {
    const r = await run(sh('kill -KILL $$')).attempt.done;
    expect(r).toMatchObject({ outcome: 'failed', exitCode: null, signal: 'SIGKILL' });
  });

  it('passes argv without a shell, stdin, and a minimal env with the job ids', async () => {
    const r = await run(
      {
        kind: 'exec',
        argv: [
          'sh',
          '-c',
          'cat; printf "%s|" "$1" "$FOO" "$PICLUSTER_JOB_ID" "$PICLUSTER_ATTEMPT_ID" "$PICLUSTER_NODE" "${SECRET_FROM_AGENT:-unset}"',
          'x',
          '$HOME; rm -rf /',
        ],
        env: { FOO: 'bar' },
        stdin: 'in:',
      },
      { attemptId: 777 },
      makeRunner({ baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } }),
    ).attempt.done;
    expect(r.stdout).toBe('in:$HOME; rm -rf /|bar|42|777|node6.lan|unset|');
  });

  it('does not leak the agent environment into the job', async () => {
    process.env.PICLUSTER_TEST_LEAK = 'leaked';
    try {
      const r = await run(sh('echo "${PICLUSTER_TEST_LEAK:-clean}"')).attempt.done;
      expect(r.stdout).toBe('clean\n');
    } finally {
      delete process.env.PICLUSTER_TEST_LEAK;
    }
  });

  it('runs in a fresh per-attempt scratch dir under the work dir and removes it after', async () => {
    const r = await run(sh('pwd; touch scratch-file; ls')).attempt.done;
    const [cwd, ...files] = r.stdout!.trim().split('\n');
    expect(cwd!.startsWith(workDir)).toBe(true);
    expect(files).toEqual(['scratch-file']);
    expect(existsSync(cwd!)).toBe(false);
    expect(await readdir(workDir)).toEqual([]);
  });

  it('fails with the spawn error when the program does not exist', async () => {
    const r = await run({ kind: 'exec', argv: ['/nonexistent/picluster-no-such-program'] }).attempt.done;
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(/ENOENT/);
  });

  it.each<[string, JobSpec, RegExp]>([
    ['an empty argv[0]', { kind: 'exec', argv: [''] }, /empty argv\[0\]/],
    ['a NUL in argv', { kind: 'exec', argv: ['echo', 'a\0b'] }, /NUL/],
    ['a bad env name', { kind: 'exec', argv: ['true'], env: { 'A=B': 'x' } }, /env name/],
    ['an unknown kind', { kind: 'docker', image: 'x' } as unknown as JobSpec, /unsupported job kind "docker"/],
  ])('rejects %s with a clear error', async (_name, spec, error) => {
    const r = await run(spec).attempt.done;
    expect(r.outcome).toBe('rejected');
    expect(r.error).toMatch(error);
  });

  it('keeps the tail of each stream within the output limit and counts dropped bytes', async () => {
    const { attempt, output } = run(sh('i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done'), { outputLimitBytes: 100 });
    const r = await attempt.done;
    const full = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join('');
    expect(r.stdout).toBe(full.slice(-100));
    expect(r.stdoutTruncated).toBe(full.length - 100);
    expect(r.stderrTruncated).toBeUndefined();
    // live output is bounded too (the head), and coalesced rather than one frame per line
    const streamed = output
      .filter((o) => o.stream === 'stdout')
      .map((o) => o.data)
      .join('');
    expect(streamed).toBe(full.slice(0, 100));
    expect(output.length).toBeLessThan(10);
  });

  it('coalesces many small writes into few output frames', async () => {
    const { attempt, output } = run(sh('i=0; while [ $i -lt 500 ]; do echo $i; i=$((i+1)); done'));
    const r = await attempt.done;
    expect(output.map((o) => o.data).join('')).toBe(r.stdout);
    expect(output.length).toBeLessThan(100);
  });
});

describe('function jobs', () => {
  it('returns the JSON value of the default export, awaited, with args', async () => {
    const r = await run({
      kind: 'function',
      source: 'export default async function (a, b) { console.log("hi from", process.env.PICLUSTER_NODE); return { sum: a + b, cwd: process.cwd() }; }',
      args: [2, 3],
    }).attempt.done;
    expect(r.outcome).toBe('succeeded');
    expect(r.value).toMatchObject({ sum: 5 });
    expect(String((r.value as { cwd: string }).cwd).startsWith(workDir)).toBe(true);
    expect(r.stdout).toBe('hi from node6.lan\n');
  });

  it('succeeds without a value when the function returns undefined', async () => {
    const r = await run({ kind: 'function', source: 'export default () => {}' }).attempt.done;
    expect(r.outcome).toBe('succeeded');
    expect('value' in r).toBe(false);
  });

  it('does not wait for handles the function leaves open', async () => {
    const r = await run({ kind: 'function', source: 'export default () => { setInterval(() => {}, 1000); return 1; }' }).attempt.done;
    expect(r).toMatchObject({ outcome: 'succeeded', value: 1 });
  });

  it('reports a throw as failed with message and stack', async () => {
    const r = await run({ kind: 'function', source: 'function inner() { throw new RangeError("bad input 7"); }\nexport default () => inner();' }).attempt.done;
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(/RangeError: bad input 7/);
    expect(r.error).toMatch(/at inner .*job\.mjs/);
  });

  it.each([
    ['no default export', 'export const x = 1;', /no default export function/],
    ['a non-JSON return value', 'export default () => 10n', /not JSON-serializable/],
    ['a syntax error', 'export default (', /SyntaxError/],
  ])('fails with a clear error for %s', async (_name, source, error) => {
    const r = await run({ kind: 'function', source }).attempt.done;
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(error);
  });

  it('fails when the process exits before returning', async () => {
    const r = await run({ kind: 'function', source: 'export default () => process.exit(4)' }).attempt.done;
    expect(r).toMatchObject({ outcome: 'failed', exitCode: 4 });
    expect(r.error).toMatch(/without returning/);
  });

  it('is rejected when the node has no Node.js runtime', async () => {
    const r = await run({ kind: 'function', source: 'export default () => 1' }, {}, makeRunner({ nodePath: null })).attempt.done;
    expect(r.outcome).toBe('rejected');
    expect(r.error).toMatch(/Node\.js runtime/);
  });
});

describe('timeout and cancel kill the whole process tree', () => {
  const forking = () => sh('echo $$ > "$OUT/leader.pid"; sleep 300 & echo $! > "$OUT/child.pid"; wait', { env: { OUT: testDir } });

  it('times out: outcome timed-out, leader and forked child both gone', async () => {
    const { attempt } = run(forking(), { timeoutMs: 300 });
    const leader = await pidFrom(join(testDir, 'leader.pid'));
    const child = await pidFrom(join(testDir, 'child.pid'));
    expect(attempt.pid()).toBe(leader);
    const r = await attempt.done;
    expect(r).toMatchObject({ outcome: 'timed-out', error: 'timed out after 300 ms' });
    await expect.poll(() => isAlive(leader), { timeout: 5000, interval: 20 }).toBe(false);
    await expect.poll(() => isAlive(child), { timeout: 5000, interval: 20 }).toBe(false);
  });

  it('cancel: outcome cancelled, leader and forked child both gone', async () => {
    const { attempt } = run(forking());
    const leader = await pidFrom(join(testDir, 'leader.pid'));
    const child = await pidFrom(join(testDir, 'child.pid'));
    expect(isAlive(child)).toBe(true);
    attempt.cancel('user asked');
    const r = await attempt.done;
    expect(r).toMatchObject({ outcome: 'cancelled', error: 'cancelled: user asked' });
    await expect.poll(() => isAlive(leader), { timeout: 5000, interval: 20 }).toBe(false);
    await expect.poll(() => isAlive(child), { timeout: 5000, interval: 20 }).toBe(false);
  });

  it('escalates to SIGKILL when the job ignores SIGTERM', async () => {
    const { attempt } = run(sh('trap "" TERM; echo $$ > "$OUT/leader.pid"; while :; do sleep 1; done', { env: { OUT: testDir } }), { timeoutMs: 200 });
    const leader = await pidFrom(join(testDir, 'leader.pid'));
    const r = await attempt.done;
    expect(r).toMatchObject({ outcome: 'timed-out', signal: 'SIGKILL' });
    await expect.poll(() => isAlive(leader), { timeout: 5000, interval: 20 }).toBe(false);
  });

  it('kills background processes a successful job leaves behind', async () => {
    const r = await run(sh('sleep 300 > /dev/null 2>&1 & echo $! > "$OUT/child.pid"', { env: { OUT: testDir } })).attempt.done;
    expect(r.outcome).toBe('succeeded');
    const child = await pidFrom(join(testDir, 'child.pid'));
    await expect.poll(() => isAlive(child), { timeout: 5000, interval: 20 }).toBe(false);
  });

  it('cancelling a function job kills its node process', async () => {
    const { attempt } = run({
      kind: 'function',
      source: `import { writeFileSync } from 'node:fs'; export default () => { writeFileSync(${JSON.stringify(join(testDir, 'leader.pid'))}, String(process.pid)); return new Promise(() => { setInterval(() => {}, 1000); }); }`,
    });
    const leader = await pidFrom(join(testDir, 'leader.pid'));
    attempt.cancel('stop');
    expect((await attempt.done).outcome).toBe('cancelled');
    await expect.poll(() => isAlive(leader), { timeout: 5000, interval: 20 }).toBe(false);
  });
});

describe('usage accounting without cgroups', () => {
  it("a function job reports its runtime's CPU time and peak RSS (resourceUsage)", async () => {
    const r = await run({ kind: 'function', source: 'export default () => { let s = 0; for (let i = 0; i < 1e6; i++) s += i; return s; }' }).attempt.done;
    expect(r.outcome).toBe('succeeded');
    expect(r.accounting).toEqual({ isolation: 'process-group', cpu: 'rusage', memory: 'rusage' });
    expect(r.cpuMs).toBeGreaterThan(0);
    expect(r.peakMemoryBytes).toBeGreaterThan(1024 * 1024);
  });

  it.skipIf(!existsSync('/proc/self/stat'))('an exec job is sampled from /proc while it runs (no /proc: skipped)', async () => {
    const r = await run(sh('i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done')).attempt.done;
    expect(r.outcome).toBe('succeeded');
    expect(r.accounting).toMatchObject({ isolation: 'process-group', memory: 'sampled' });
    expect(r.peakMemoryBytes).toBeGreaterThan(0);
  });

  it('asked limits are reported as not enforced in a process group', async () => {
    const r = await run({ kind: 'exec', argv: ['true'], limits: { memoryMb: 64, cpus: 1 } }).attempt.done;
    expect(r.accounting?.unenforced).toEqual(['memoryMb', 'cpus']);
  });
});
