/**
 * Runs one attempt as a child process — never in the agent's own process — in a fresh scratch
 * dir, in its own process group (so timeout and cancel kill everything it forked), streaming
 * coalesced output and keeping the tail of each stream for the result.
 *
 * Outcomes: exit 0 → `succeeded`; non-zero exit or signal → `failed`; the timeout → `timed-out`;
 * `cancel()` → `cancelled`; a spec the agent cannot use (bad argv/env, no Node for a function
 * job, unknown kind) → `rejected`. An exec whose program does not exist is `failed` (the spec
 * was fine; the node lacks the program), with the spawn error in `error`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../common/logger.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import type { JobSpec, ResultBody } from '../common/protocol.ts';
import { JobRejectedError } from './errors.ts';
import { FUNCTION_RUNNER_SOURCE } from './function-runner.ts';
import { OutputCoalescer, TailBuffer } from './output.ts';
import { killGroup } from './process-tree.ts';

export type OutputStream = 'stdout' | 'stderr';

export interface RunnerOptions {
  /** Parent of the per-attempt scratch dirs (must exist). */
  readonly workDir: string;
  readonly nodeName: string;
  readonly log: Logger;
  /** Between SIGTERM and SIGKILL of the process group. Default 2000. */
  readonly killGraceMs?: number;
  /** Output frame coalescing. Defaults 100 ms / 16 KiB. */
  readonly flushMs?: number;
  readonly flushBytes?: number;
  /** Node.js for function jobs; default `process.execPath`; `null` = this node has none. */
  readonly nodePath?: string | null;
  /** The base environment of every job; default PATH, HOME, LANG from the agent's env. */
  readonly baseEnv?: Readonly<Record<string, string>>;
  readonly clock?: Clock;
}

export interface AttemptRequest {
  readonly attemptId: number;
  readonly jobId: number;
  readonly spec: JobSpec;
  readonly timeoutMs?: number | undefined;
  readonly outputLimitBytes: number;
}

export interface RunningAttempt {
  readonly attemptId: number;
  readonly jobId: number;
  /** The job's process (its group leader) once spawned. */
  readonly pid: () => number | undefined;
  /** Always resolves (never rejects) once the process group is gone and the scratch dir removed. */
  readonly done: Promise<ResultBody>;
  /** Kills the whole process group; the attempt ends `cancelled`. No-op once it has ended. */
  cancel(reason: string): void;
}

const MAX_ERROR_CHARS = 16 * 1024;
const clip = (s: string): string => (s.length > MAX_ERROR_CHARS ? `${s.slice(0, MAX_ERROR_CHARS - 14)}\n…[truncated]` : s);
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function defaultBaseEnv(env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  return {
    PATH: env.PATH || DEFAULT_PATH,
    ...(env.HOME ? { HOME: env.HOME } : {}),
    LANG: env.LANG || 'C.UTF-8',
  };
}

/** Throws `JobRejectedError` for specs that cannot be spawned as given. */
export function checkSpec(spec: JobSpec): void {
  const kind = (spec as { kind?: unknown }).kind;
  if (kind !== 'exec' && kind !== 'function')
    throw new JobRejectedError(`unsupported job kind ${JSON.stringify(kind)}; this agent runs exec and function jobs`);
  if (spec.kind === 'exec') {
    if (spec.argv.length === 0 || spec.argv[0] === '') throw new JobRejectedError('exec job has an empty argv[0]');
    if (spec.argv.some((a) => a.includes('\0'))) throw new JobRejectedError('exec job argv contains a NUL byte');
  }
  for (const [k, v] of Object.entries(spec.env ?? {})) {
    if (k === '' || k.includes('=') || k.includes('\0')) throw new JobRejectedError(`job env name ${JSON.stringify(k)} is invalid`);
    if (v.includes('\0')) throw new JobRejectedError(`job env ${k} contains a NUL byte`);
  }
}

type EndReason = { kind: 'timeout' } | { kind: 'cancel'; reason: string };

export class Runner {
  private readonly killGraceMs: number;
  private readonly flushMs: number;
  private readonly flushBytes: number;
  private readonly nodePath: string | null;
  private readonly baseEnv: Readonly<Record<string, string>>;
  private readonly clock: Clock;

  constructor(private readonly o: RunnerOptions) {
    this.killGraceMs = o.killGraceMs ?? 2000;
    this.flushMs = o.flushMs ?? 100;
    this.flushBytes = o.flushBytes ?? 16 * 1024;
    this.nodePath = o.nodePath === undefined ? (process.versions.node ? process.execPath : null) : o.nodePath;
    this.baseEnv = o.baseEnv ?? defaultBaseEnv();
    this.clock = o.clock ?? systemClock;
  }

  start(req: AttemptRequest, onOutput: (stream: OutputStream, data: string) => void): RunningAttempt {
    let child: ChildProcess | undefined;
    let endReason: EndReason | undefined;
    let exited = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const log = this.o.log.child({ attemptId: req.attemptId, jobId: req.jobId });

    const terminate = (why: EndReason): void => {
      if (endReason || exited) return;
      endReason = why;
      const pid = child?.pid;
      if (pid === undefined) return; // not spawned yet: execute() checks endReason after spawning
      log.info({ pid, why: why.kind }, 'killing job process group');
      killGroup(pid, 'SIGTERM');
      graceTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), this.killGraceMs);
    };

    const done = this.execute(req, onOutput, log, {
      setChild: (c) => {
        child = c;
      },
      endReason: () => endReason,
      terminate,
      markExited: () => {
        exited = true;
      },
      clearGrace: () => clearTimeout(graceTimer),
    });
    return {
      attemptId: req.attemptId,
      jobId: req.jobId,
      pid: () => child?.pid,
      done,
      cancel: (reason) => terminate({ kind: 'cancel', reason }),
    };
  }

  private async execute(
    req: AttemptRequest,
    onOutput: (stream: OutputStream, data: string) => void,
    log: Logger,
    ctl: {
      setChild(c: ChildProcess): void;
      endReason(): EndReason | undefined;
      terminate(why: EndReason): void;
      markExited(): void;
      clearGrace(): void;
    },
  ): Promise<ResultBody> {
    const startedAt = this.clock.now();
    const t0 = performance.now();
    const base = { attemptId: req.attemptId, jobId: req.jobId, startedAt };
    const finish = (rest: Omit<ResultBody, 'attemptId' | 'jobId' | 'startedAt' | 'durationMs'>): ResultBody => ({
      ...base,
      ...rest,
      ...(rest.error !== undefined ? { error: clip(rest.error) } : {}),
      durationMs: Math.max(0, Math.round(performance.now() - t0)),
    });
    const reject = (error: string): ResultBody => {
      log.warn({ error }, 'job rejected');
      return finish({ outcome: 'rejected', error });
    };

    try {
      checkSpec(req.spec);
    } catch (e) {
      return reject((e as Error).message);
    }
    if (req.spec.kind === 'function' && (this.nodePath === null || !existsSync(this.nodePath))) {
      return reject(`function jobs need a Node.js runtime on the node; none found${this.nodePath ? ` at ${this.nodePath}` : ''}`);
    }
    const early = ctl.endReason();
    if (early?.kind === 'cancel') return finish({ outcome: 'cancelled', error: `cancelled: ${early.reason}` });

    let scratch: string;
    try {
      scratch = await mkdtemp(join(this.o.workDir, `attempt-${req.attemptId}-`));
    } catch (e) {
      return reject(`cannot create a scratch dir under ${this.o.workDir}: ${(e as Error).message}`);
    }
    try {
      return await this.runIn(scratch, req, onOutput, log, ctl, finish, reject);
    } finally {
      await rm(scratch, { recursive: true, force: true, maxRetries: 3 }).catch((e: unknown) => log.warn({ err: e, scratch }, 'cannot remove scratch dir'));
    }
  }

  private async runIn(
    scratch: string,
    req: AttemptRequest,
    onOutput: (stream: OutputStream, data: string) => void,
    log: Logger,
    ctl: Parameters<Runner['execute']>[3],
    finish: (rest: Omit<ResultBody, 'attemptId' | 'jobId' | 'startedAt' | 'durationMs'>) => ResultBody,
    reject: (error: string) => ResultBody,
  ): Promise<ResultBody> {
    const spec = req.spec;
    const env: Record<string, string> = {
      ...this.baseEnv,
      ...(this.baseEnv.HOME ? {} : { HOME: scratch }),
      TMPDIR: scratch,
      ...(spec.env ?? {}),
      PICLUSTER_JOB_ID: String(req.jobId),
      PICLUSTER_ATTEMPT_ID: String(req.attemptId),
      PICLUSTER_NODE: this.o.nodeName,
      PICLUSTER_AGENT_PID: String(process.pid),
    };
    let file: string;
    let args: string[];
    const resultPath = join(scratch, '.picluster-result.json');
    if (spec.kind === 'exec') {
      [file, ...args] = spec.argv as [string, ...string[]];
    } else {
      const jobPath = join(scratch, 'job.mjs');
      const runnerPath = join(scratch, '.picluster-runner.mjs');
      const argsPath = join(scratch, '.picluster-args.json');
      try {
        await Promise.all([
          writeFile(jobPath, spec.source),
          writeFile(runnerPath, FUNCTION_RUNNER_SOURCE),
          writeFile(argsPath, JSON.stringify(spec.args ?? [])),
        ]);
      } catch (e) {
        return reject(`cannot write the function module: ${(e as Error).message}`);
      }
      file = this.nodePath!;
      args = [runnerPath, jobPath, argsPath, resultPath];
    }

    const cancelled = ctl.endReason();
    if (cancelled?.kind === 'cancel') return finish({ outcome: 'cancelled', error: `cancelled: ${cancelled.reason}` });
    let child: ChildProcess;
    try {
      child = spawn(file, args, { cwd: scratch, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    } catch (e) {
      return reject(`cannot start the job: ${(e as Error).message}`);
    }
    ctl.setChild(child);

    const limit = req.outputLimitBytes;
    const tails = { stdout: new TailBuffer(limit), stderr: new TailBuffer(limit) };
    const streams = (['stdout', 'stderr'] as const).map((name) => {
      const co = new OutputCoalescer({ flushMs: this.flushMs, flushBytes: this.flushBytes, streamLimitBytes: limit, emit: (d) => onOutput(name, d) });
      const s = child[name]!;
      s.on('data', (chunk: Buffer) => {
        tails[name].push(chunk);
        co.push(chunk);
      });
      const closed = new Promise<void>((resolve) => s.once('close', resolve));
      return { co, s, closed };
    });
    child.stdin!.on('error', () => {}); // EPIPE when the job ignores its stdin
    child.stdin!.end(spec.kind === 'exec' && spec.stdin !== undefined ? spec.stdin : undefined);

    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => {
        if (child.pid === undefined) resolve({ code: null, signal: null, error });
        else log.warn({ err: error }, 'child process error');
      });
      if (child.pid !== undefined) {
        log.debug({ pid: child.pid, kind: spec.kind }, 'job started');
        const pending = ctl.endReason();
        if (pending) {
          // cancelled while spawning: terminate() could not signal yet
          killGroup(child.pid, 'SIGKILL');
        } else if (req.timeoutMs !== undefined) {
          const timer = setTimeout(() => ctl.terminate({ kind: 'timeout' }), req.timeoutMs);
          child.once('exit', () => clearTimeout(timer));
        }
      }
    });
    ctl.markExited();

    const pid = child.pid;
    if (pid !== undefined) {
      // The leader is gone; make sure nothing it forked outlives the attempt.
      if (!ctl.endReason()) killGroup(pid, 'SIGTERM');
      const allClosed = Promise.all(streams.map((s) => s.closed));
      const bounded = (ms: number) => Promise.race([allClosed.then(() => true), new Promise<false>((r) => setTimeout(r, ms, false).unref())]);
      if (!(await bounded(this.killGraceMs))) log.debug({ pid }, 'job group still holds its output after the grace; killing');
      killGroup(pid, 'SIGKILL');
      if (!(await bounded(500))) {
        log.warn({ pid }, 'a job process escaped its group and holds the output pipes; detaching');
        for (const s of streams) s.s.destroy();
      }
    }
    ctl.clearGrace();
    for (const s of streams) s.co.end();

    const output = {
      stdout: tails.stdout.text(),
      stderr: tails.stderr.text(),
      ...(tails.stdout.truncated > 0 ? { stdoutTruncated: tails.stdout.truncated } : {}),
      ...(tails.stderr.truncated > 0 ? { stderrTruncated: tails.stderr.truncated } : {}),
    };
    const codes = { exitCode: exit.code, signal: exit.signal };
    const reason = ctl.endReason();
    if (exit.error) {
      if (spec.kind === 'function') return reject(`cannot start the Node.js runtime ${file}: ${exit.error.message}`);
      return finish({ outcome: 'failed', ...codes, error: `cannot start ${JSON.stringify(file)}: ${exit.error.message}`, ...output });
    }
    if (reason?.kind === 'timeout') return finish({ outcome: 'timed-out', ...codes, error: `timed out after ${req.timeoutMs} ms`, ...output });
    if (reason?.kind === 'cancel') return finish({ outcome: 'cancelled', ...codes, error: `cancelled: ${reason.reason}`, ...output });

    if (spec.kind === 'function') {
      let parsed: { ok: boolean; value?: unknown; error?: string } | undefined;
      try {
        parsed = JSON.parse(await readFile(resultPath, 'utf8')) as typeof parsed;
      } catch {
        parsed = undefined;
      }
      if (parsed?.ok && exit.code === 0) return finish({ outcome: 'succeeded', ...codes, ...('value' in parsed ? { value: parsed.value } : {}), ...output });
      if (parsed && !parsed.ok) return finish({ outcome: 'failed', ...codes, error: String(parsed.error ?? 'the function threw'), ...output });
      return finish({
        outcome: 'failed',
        ...codes,
        error: `the function's process exited (${describeExit(exit.code, exit.signal)}) without returning`,
        ...output,
      });
    }
    if (exit.code === 0) return finish({ outcome: 'succeeded', ...codes, ...output });
    return finish({ outcome: 'failed', ...codes, error: describeExit(exit.code, exit.signal), ...output });
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}
