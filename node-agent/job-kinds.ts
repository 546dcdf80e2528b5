/**
 * What each job kind runs and how its end is read. `exec` runs argv; `function` runs the agent's
 * Node.js on the function runner; `python` runs the node's python3 on the python runner. The two
 * runners write a result file in the scratch dir, read here after the process has exited.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { JobSpec, ResultBody } from '../common/protocol.ts';
import { JobRejectedError } from './errors.ts';
import { FUNCTION_RUNNER_SOURCE } from './function-runner.ts';
import { PYTHON_RUNNER_SOURCE } from './python-runner.ts';

export const RESULT_FILE = '.picluster-result.json';
/** The python job's own module; `depends` may not take this name. */
export const PYTHON_JOB_MODULE = '__picluster_job__.py';

/** The first executable `name` on `path` (or `name` itself when it has a slash), else undefined. */
export function resolveExecutable(name: string, path: string | undefined): string | undefined {
  const isExe = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return isExe(name) ? name : undefined;
  for (const dir of (path ?? '').split(delimiter)) if (dir && isExe(join(dir, name))) return join(dir, name);
  return undefined;
}

/** Throws `JobRejectedError` for specs that cannot be spawned as given. */
export function checkSpec(spec: JobSpec): void {
  const kind = (spec as { kind?: unknown }).kind;
  if (kind !== 'exec' && kind !== 'function' && kind !== 'python')
    throw new JobRejectedError(`unsupported job kind ${JSON.stringify(kind)}; this agent runs exec, function and python jobs`);
  if (spec.kind === 'python') {
    const names = (spec.depends ?? []).map((d) => d.name);
    const bad = names.find((n, i) => !/^[A-Za-z_][A-Za-z0-9_]*\.py$/.test(n) || n === PYTHON_JOB_MODULE || names.indexOf(n) !== i);
    if (bad !== undefined) throw new JobRejectedError(`python job depends has an unusable or repeated module name ${JSON.stringify(bad)}`);
  }
  if (spec.kind === 'exec') {
    if (spec.argv.length === 0 || spec.argv[0] === '') throw new JobRejectedError('exec job has an empty argv[0]');
    if (spec.argv.some((a) => a.includes('\0'))) throw new JobRejectedError('exec job argv contains a NUL byte');
  }
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    if (k === '' || k.includes('=') || k.includes('\0')) throw new JobRejectedError(`job env name ${JSON.stringify(k)} is invalid`);
    if (v.includes('\0')) throw new JobRejectedError(`job env ${k} contains a NUL byte`);
  }
}

export interface Runtimes {
  /** Node.js for function jobs; null = none. */
  readonly node: string | null;
  /** python3 for python jobs; null = none. */
  readonly python: () => string | null;
}

export type Launch = { readonly file: string; readonly args: string[]; readonly resultPath?: string } | { readonly reject: string };

/** Writes what the kind needs into `scratch` and names the program to start. */
export async function prepareLaunch(spec: JobSpec, scratch: string, runtimes: Runtimes): Promise<Launch> {
  if (spec.kind === 'exec') {
    const [file, ...args] = spec.argv as [string, ...string[]];
    return { file, args };
  }
  const resultPath = join(scratch, RESULT_FILE);
  if (spec.kind === 'function') {
    if (runtimes.node === null) return { reject: 'function jobs need a Node.js runtime on the node; none found' };
    const jobPath = join(scratch, 'job.mjs');
    const runnerPath = join(scratch, '.picluster-runner.mjs');
    const argsPath = join(scratch, '.picluster-args.json');
    try {
      await Promise.all([writeFile(jobPath, spec.source), writeFile(runnerPath, FUNCTION_RUNNER_SOURCE), writeFile(argsPath, JSON.stringify(spec.args ?? []))]);
    } catch (e) {
      return { reject: `cannot write the function module: ${(e as Error).message}` };
    }
    return { file: runtimes.node, args: [runnerPath, jobPath, argsPath, resultPath], resultPath };
  }
  const python = runtimes.python();
  if (python === null)
    return { reject: 'python jobs need python3 on the node; none found on its PATH (add it to the image, or start the agent with --python)' };
  const jobPath = join(scratch, PYTHON_JOB_MODULE);
  const runnerPath = join(scratch, '.picluster-runner.py');
  const callPath = join(scratch, '.picluster-call.json');
  try {
    await Promise.all([
      writeFile(jobPath, spec.source),
      writeFile(runnerPath, PYTHON_RUNNER_SOURCE),
      writeFile(callPath, JSON.stringify({ args: spec.args ?? [], kwargs: spec.kwargs ?? {} })),
      ...(spec.depends ?? []).map((d) => writeFile(join(scratch, d.name), d.source)),
    ]);
  } catch (e) {
    return { reject: `cannot write the python modules: ${(e as Error).message}` };
  }
  // -u: output streams live; -B: no __pycache__ in the scratch dir.
  return { file: python, args: ['-u', '-B', runnerPath, jobPath, spec.function, callPath, resultPath], resultPath };
}

export interface RunnerUsage {
  readonly cpuMs?: number;
  readonly peakMemoryBytes?: number;
}

type Ended = Pick<ResultBody, 'outcome' | 'error'> & { value?: unknown; hasValue: boolean; usage?: RunnerUsage };

/** Reads a runner's result file after its process exited with `code`/`signal`. */
export async function readRunnerResult(kind: 'function' | 'python', resultPath: string, code: number | null, signal: string | null): Promise<Ended> {
  let parsed: { ok?: unknown; value?: unknown; error?: unknown; usage?: RunnerUsage } | undefined;
  try {
    const v: unknown = JSON.parse(await readFile(resultPath, 'utf8'));
    parsed = typeof v === 'object' && v !== null ? (v as typeof parsed) : undefined;
  } catch {
    parsed = undefined;
  }
  const usage = parsed?.usage && typeof parsed.usage === 'object' ? { usage: cleanUsage(parsed.usage) } : {};
  const who = kind === 'python' ? "the python function's process" : "the function's process";
  if (parsed?.ok === true && code === 0) return { outcome: 'succeeded', hasValue: 'value' in parsed, value: parsed.value, ...usage };
  if (parsed && parsed.ok === false)
    return { outcome: 'failed', hasValue: false, error: String(parsed.error ?? (kind === 'python' ? 'the function raised' : 'the function threw')), ...usage };
  return { outcome: 'failed', hasValue: false, error: `${who} exited (${signal ? `killed by ${signal}` : `exit code ${code}`}) without returning` };
}

function cleanUsage(u: RunnerUsage): RunnerUsage {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  return { ...(ok(u.cpuMs) ? { cpuMs: u.cpuMs } : {}), ...(ok(u.peakMemoryBytes) ? { peakMemoryBytes: u.peakMemoryBytes } : {}) };
}
