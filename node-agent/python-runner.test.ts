/**
 * Python function jobs with a real python3 (Debian's /usr/bin/python3 when present, as on the
 * image): values, depends, tracebacks, results that are not JSON, a node without python3,
 * cancel/timeout, and the usage numbers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/logger.ts';
import type { PythonSpec } from '../common/protocol.ts';
import { resolveExecutable } from './job-kinds.ts';
import { isAlive } from './process-tree.ts';
import { Runner, type OutputStream } from './runner.ts';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : resolveExecutable('python3', process.env.PATH);
let workDir: string;
let testDir: string;
let attemptId = 1;

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'picluster-py-work-'));
  testDir = await mkdtemp(join(tmpdir(), 'picluster-py-test-'));
});
afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
  await rm(testDir, { recursive: true, force: true });
});

const py = (source: string, extra: Partial<PythonSpec> = {}): PythonSpec => ({ kind: 'python', source, function: 'f', ...extra });
function run(spec: PythonSpec, opts: { timeoutMs?: number; pythonPath?: string | null } = {}) {
  const runner = new Runner({
    workDir,
    nodeName: 'py1',
    log: silentLogger(),
    killGraceMs: 300,
    flushMs: 20,
    pythonPath: opts.pythonPath === undefined ? PYTHON! : opts.pythonPath,
  });
  const output: { stream: OutputStream; data: string }[] = [];
  const attempt = runner.start(
    { attemptId: attemptId++, jobId: 7, spec, outputLimitBytes: 64 * 1024, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) },
    (stream, data) => output.push({ stream, data }),
  );
  return { attempt, output };
}

describe.skipIf(!PYTHON)(`python jobs${PYTHON ? '' : ' — skipped: no python3 on this machine'}`, () => {
  it('calls function(*args, **kwargs) and returns its JSON value; prints stream as output', async () => {
    const { attempt, output } = run(
      py('import sys\ndef f(a, b, scale=1):\n    print("adding", a, b)\n    return {"sum": (a + b) * scale, "py": sys.version_info[0]}\n', {
        args: [2, 3],
        kwargs: { scale: 10 },
      }),
    );
    const r = await attempt.done;
    expect(r).toMatchObject({ outcome: 'succeeded', exitCode: 0, value: { sum: 50, py: 3 }, stdout: 'adding 2 3\n' });
    expect(output.map((o) => o.data).join('')).toBe('adding 2 3\n');
  });

  it('imports the modules shipped in depends, from the scratch dir it runs in', async () => {
    const spec = py('import os\nimport helpers\ndef f(x):\n    return [helpers.double(x), os.path.basename(os.getcwd()).startswith("attempt-")]\n', {
      args: [21],
      depends: [{ name: 'helpers.py', source: 'def double(x):\n    return 2 * x\n' }],
    });
    expect(await run(spec).attempt.done).toMatchObject({ outcome: 'succeeded', value: [42, true] });
    expect(await readdir(workDir)).toEqual([]);
  });

  it('returns None as null and strings, lists, floats as themselves', async () => {
    expect((await run(py('def f():\n    return None\n')).attempt.done).value).toBeNull();
    expect((await run(py('def f():\n    return ["é", 1.5, True]\n')).attempt.done).value).toEqual(['é', 1.5, true]);
  });

  it('an exception fails the attempt with the traceback (function name, line, type and message)', async () => {
    const r = await run(py('def g(x):\n    raise ValueError("bad x: %d" % x)\n\ndef f(x):\n    return g(x)\n', { args: [5] })).attempt.done;
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(/^Traceback \(most recent call last\):/);
    expect(r.error).toMatch(/line 2, in g/);
    expect(r.error).toMatch(/ValueError: bad x: 5\n$/);
    expect(r.error).not.toContain('_main'); // the runner's own frame is left out
  });

  it.each([
    ['a set', 'def f():\n    return {1, 2}\n', /not JSON: TypeError: Object of type set is not JSON serializable/],
    ['NaN', 'def f():\n    return float("nan")\n', /not JSON: ValueError: Out of range float values/],
    ['an object', 'class C: pass\ndef f():\n    return C()\n', /not JSON: TypeError: Object of type C/],
  ])('a result that is not JSON (%s) is a clear error', async (_n, source, error) => {
    const r = await run(py(source)).attempt.done;
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(error);
  });

  it.each([
    ['no such function', py('def g():\n    pass\n'), /TypeError: the job module defines no function 'f'/],
    ['a syntax error', py('def f(:\n'), /SyntaxError/],
    ['sys.exit in the function', py('import sys\ndef f():\n    sys.exit(3)\n'), /SystemExit: 3/],
    ['a missing module', py('import numpy_not_here\ndef f():\n    pass\n'), /ModuleNotFoundError: No module named 'numpy_not_here'/],
  ])('%s fails with the Python error', async (_n, spec, error) => {
    const r = await run(spec).attempt.done;
    expect(r.outcome).toBe('failed');
    expect(r.error).toMatch(error);
  });

  it('a node without python3 rejects the job, saying so', async () => {
    const r = await run(py('def f():\n    return 1\n'), { pythonPath: null }).attempt.done;
    expect(r).toMatchObject({ outcome: 'rejected' });
    expect(r.error).toMatch(/python jobs need python3 on the node/);
  });

  it('a process that dies before returning is a clear failure', async () => {
    const r = await run(py('import os\ndef f():\n    os._exit(4)\n')).attempt.done;
    expect(r).toMatchObject({ outcome: 'failed', exitCode: 4 });
    expect(r.error).toMatch(/python function's process exited \(exit code 4\) without returning/);
  });

  it('does not wait for threads the function leaves running', async () => {
    const r = await run(py('import threading, time\ndef f():\n    threading.Thread(target=time.sleep, args=(300,)).start()\n    return "done"\n')).attempt.done;
    expect(r).toMatchObject({ outcome: 'succeeded', value: 'done' });
  });

  it('times out and cancels like every other kind, killing the interpreter', async () => {
    const pidFile = join(testDir, 'py.pid');
    const src = `import os, time\ndef f():\n    open(${JSON.stringify(pidFile)}, "w").write(str(os.getpid()))\n    time.sleep(300)\n`;
    const timed = await run(py(src), { timeoutMs: 500 }).attempt.done;
    expect(timed).toMatchObject({ outcome: 'timed-out', error: 'timed out after 500 ms' });
    const { attempt } = run(py(src));
    await expect.poll(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').length > 0, { timeout: 10_000, interval: 20 }).toBe(true);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    attempt.cancel('enough');
    expect(await attempt.done).toMatchObject({ outcome: 'cancelled', error: 'cancelled: enough' });
    await expect.poll(() => isAlive(pid), { timeout: 5000, interval: 20 }).toBe(false);
  });

  it("reports the interpreter's CPU time and peak memory from its getrusage", async () => {
    const r = await run(py('def f():\n    x = bytearray(40 * 1024 * 1024)\n    s = 0\n    for i in range(300000):\n        s += i\n    return len(x)\n'))
      .attempt.done;
    expect(r.outcome).toBe('succeeded');
    expect(r.accounting).toMatchObject({ cpu: expect.stringMatching(/cgroup|rusage/), memory: 'rusage' });
    expect(r.cpuMs).toBeGreaterThan(0);
    expect(r.peakMemoryBytes).toBeGreaterThan(40 * 1024 * 1024);
  });

  it('rejects a depends name that would replace the job module', async () => {
    const r = await run(py('def f():\n    pass\n', { depends: [{ name: '__picluster_job__.py', source: '' }] })).attempt.done;
    expect(r.outcome).toBe('rejected');
  });
});
