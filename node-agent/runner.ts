/**
 * Runs one attempt as a child process — never in the agent's own process — in a fresh scratch
 * dir, in its own process group and, where the agent has cgroup v2 (`cgroup.ts`), in a cgroup of
 * its own (so timeout and cancel kill everything it started, even what left the group with
 * setsid), streaming coalesced output and keeping the tail of each stream for the result, with
 * its CPU time and peak memory (`accounting` says where each number came from).
 *
 * Outcomes: exit 0 → `succeeded`; non-zero exit or signal → `failed`; the timeout → `timed-out`;
 * `cancel()` → `cancelled`; a spec the agent cannot use (bad argv/env, no Node for a function
 * job, no python3 for a python job, unknown kind) → `rejected`. An exec whose program does not
 * exist is `failed` (the spec was fine; the node lacks the program), with the spawn error in `error`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../common/logger.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import type { FileRef, JobSpec, ResultBody } from '../common/protocol.ts';
import type { Materialised } from './file-cache.ts';
import type { JobCgroup, JobCgroups } from './cgroup.ts';
import { checkSpec, prepareLaunch, readRunnerResult, resolveExecutable } from './job-kinds.ts';

export { checkSpec };
import { OutputCoalescer, TailBuffer } from './output.ts';
import { killGroup } from './process-tree.ts';
import { accounting, LeaderSampler } from './usage.ts';

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
  /** python3 for python jobs; default the first `python3` on the base PATH (looked up per job until found); `null` = none. */
  readonly pythonPath?: string | null;
  /** Per-job cgroups; absent = process groups only. */
  readonly cgroups?: JobCgroups;
  /** The base environment of every job; default PATH, HOME, LANG from the agent's env. */
  readonly baseEnv?: Readonly<Record<string, string>>;
  /** Fetches a job's input files into its scratch dir (`file-cache.ts`); absent = jobs with files are rejected. */
  readonly inputs?: InputFiles;
  readonly clock?: Clock;
}

export interface InputFiles {
  materialise(files: readonly FileRef[], scratch: string): Promise<Materialised>;
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
  /** The job's cgroup directory, when it has one. */
  readonly cgroup: () => string | undefined;
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

type EndReason = { kind: 'timeout' } | { kind: 'cancel'; reason: string };

export class Runner {
  private readonly killGraceMs: number;
  private readonly flushMs: number;
  private readonly flushBytes: number;
  private readonly nodePath: string | null;
  private pythonPath: string | null | undefined;
  private readonly baseEnv: Readonly<Record<string, string>>;
  private readonly clock: Clock;

  constructor(private readonly o: RunnerOptions) {
    this.killGraceMs = o.killGraceMs ?? 2000;
    this.flushMs = o.flushMs ?? 100;
    this.flushBytes = o.flushBytes ?? 16 * 1024;
    this.nodePath = o.nodePath === undefined ? (process.versions.node ? process.execPath : null) : o.nodePath;
    this.baseEnv = o.baseEnv ?? defaultBaseEnv();
    this.clock = o.clock ?? systemClock;
    this.pythonPath = o.pythonPath;
  }

  /** The python3 python jobs run with (null: none on this node). */
  python(): string | null {
    if (this.pythonPath === undefined || this.pythonPath === null) {
      if (this.o.pythonPath === null) return null;
      const found = resolveExecutable('python3', this.baseEnv.PATH) ?? null;
      if (found) this.pythonPath = found; // cache once found; keep looking while absent
      return found;
    }
    return this.pythonPath;
  }

  start(req: AttemptRequest, onOutput: (stream: OutputStream, data: string) => void): RunningAttempt {
    let child: ChildProcess | undefined;
    let cgroup: JobCgroup | undefined;
    let endReason: EndReason | undefined;
    let exited = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const log = this.o.log.child({ attemptId: req.attemptId, jobId: req.jobId });

    const terminate = (why: EndReason): void => {
      if (endReason || exited) return;
      endReason = why;
      const pid = child?.pid;
      if (pid === undefined) return; // not spawned yet: execute() checks endReason after spawning
      log.info({ pid, why: why.kind, cgroup: cgroup?.path }, 'killing job process group');
      killGroup(pid, 'SIGTERM');
      void cgroup?.signalAll('SIGTERM');
      graceTimer = setTimeout(() => {
        killGroup(pid, 'SIGKILL');
        void cgroup?.kill();
      }, this.killGraceMs);
    };

    const done = this.execute(req, onOutput, log, {
      setChild: (c, cg) => {
        child = c;
        cgroup = cg;
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
      cgroup: () => cgroup?.path,
      done,
      cancel: (reason) => terminate({ kind: 'cancel', reason }),
    };
  }

  private async execute(
    req: AttemptRequest,
    onOutput: (stream: OutputStream, data: string) => void,
    log: Logger,
    ctl: {
      setChild(c: ChildProcess, cgroup: JobCgroup | undefined): void;
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
    if (req.spec.kind === 'python' && this.python() === null) {
      return reject('python jobs need python3 on the node; none found on its PATH (add it to the image, or start the agent with --python)');
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
    if (spec.files?.length) {
      if (!this.o.inputs) return reject('this agent cannot fetch input files (started without a file cache)');
      const got = await this.o.inputs.materialise(spec.files, scratch);
      if (!got.ok) return got.outcome === 'rejected' ? reject(got.error) : finish({ outcome: 'failed', exitCode: null, signal: null, error: got.error });
    }
    const launch = await prepareLaunch(spec, scratch, { node: this.nodePath, python: () => this.python() });
    if ('reject' in launch) return reject(launch.reject);
    const { file, args } = launch;

    const cancelled = ctl.endReason();
    if (cancelled?.kind === 'cancel') return finish({ outcome: 'cancelled', error: `cancelled: ${cancelled.reason}` });
    const cgroup = await this.jobCgroup(req, log);
    try {
      return await this.spawnAndWait(scratch, req, env, file, args, launch.resultPath, cgroup, onOutput, log, ctl, finish, reject);
    } finally {
      await cgroup?.remove(log);
    }
  }

  private async jobCgroup(req: AttemptRequest, log: Logger): Promise<JobCgroup | undefined> {
    if (!this.o.cgroups) return undefined;
    try {
      return await this.o.cgroups.forAttempt(req.attemptId, req.spec.limits);
    } catch (e) {
      log.warn({ err: e }, 'cannot create the job cgroup; running it in its process group only');
      return undefined;
    }
  }

  private async spawnAndWait(
    scratch: string,
    req: AttemptRequest,
    env: Record<string, string>,
    file: string,
    args: string[],
    resultPath: string | undefined,
    cgroup: JobCgroup | undefined,
    onOutput: (stream: OutputStream, data: string) => void,
    log: Logger,
    ctl: Parameters<Runner['execute']>[3],
    finish: (rest: Omit<ResultBody, 'attemptId' | 'jobId' | 'startedAt' | 'durationMs'>) => ResultBody,
    reject: (error: string) => ResultBody,
  ): Promise<ResultBody> {
    const spec = req.spec;
    // In a cgroup, a shell puts itself into it and then execs the job, so not even the job's
    // first fork can happen outside. The program is resolved first, so a missing one fails as
    // it does without the shell.
    let program = file;
    let argv = args;
    if (cgroup) {
      const resolved = resolveExecutable(file, env.PATH);
      if (resolved === undefined)
        return finish({ outcome: 'failed', exitCode: null, signal: null, error: `cannot start ${JSON.stringify(file)}: spawn ${file} ENOENT` });
      program = '/bin/sh';
      argv = ['-c', 'echo $$ > "$0" || exit 125; exec "$@"', cgroup.procsFile, resolved, ...args];
    }
    let child: ChildProcess;
    try {
      child = spawn(program, argv, { cwd: scratch, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    } catch (e) {
      return reject(`cannot start the job: ${(e as Error).message}`);
    }
    ctl.setChild(child, cgroup);
    const sampler =
      child.pid !== undefined && spec.kind === 'exec' && !cgroup?.controllers.includes('memory') ? new LeaderSampler(child.pid).start() : undefined;

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
        log.debug({ pid: child.pid, kind: spec.kind, cgroup: cgroup?.path }, 'job started');
        const pending = ctl.endReason();
        if (pending) {
          // cancelled while spawning: terminate() could not signal yet
          killGroup(child.pid, 'SIGKILL');
          void cgroup?.kill();
        } else if (req.timeoutMs !== undefined) {
          const timer = setTimeout(() => ctl.terminate({ kind: 'timeout' }), req.timeoutMs);
          child.once('exit', () => clearTimeout(timer));
        }
      }
    });
    ctl.markExited();
    const sampled = sampler?.stop();

    const pid = child.pid;
    if (pid !== undefined) {
      // The leader is gone; make sure nothing it started outlives the attempt.
      if (!ctl.endReason()) {
        killGroup(pid, 'SIGTERM');
        await cgroup?.signalAll('SIGTERM');
      }
      const allClosed = Promise.all(streams.map((s) => s.closed));
      const bounded = (ms: number) => Promise.race([allClosed.then(() => true), new Promise<false>((r) => setTimeout(r, ms, false).unref())]);
      if (!(await bounded(this.killGraceMs))) log.debug({ pid }, 'job group still holds its output after the grace; killing');
      killGroup(pid, 'SIGKILL');
      await cgroup?.kill();
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
      if (spec.kind !== 'exec') return reject(`cannot start the ${spec.kind === 'python' ? 'python3' : 'Node.js'} runtime ${file}: ${exit.error.message}`);
      return finish({ outcome: 'failed', ...codes, error: `cannot start ${JSON.stringify(file)}: ${exit.error.message}`, ...output });
    }
    const ran = spec.kind !== 'exec' && resultPath !== undefined ? await readRunnerResult(spec.kind, resultPath, exit.code, exit.signal) : undefined;
    const measured = await accounting(cgroup, ran?.usage, sampled, spec.limits);
    if (reason?.kind === 'timeout') return finish({ outcome: 'timed-out', ...codes, error: `timed out after ${req.timeoutMs} ms`, ...output, ...measured });
    if (reason?.kind === 'cancel') return finish({ outcome: 'cancelled', ...codes, error: `cancelled: ${reason.reason}`, ...output, ...measured });
    if (ran) {
      return finish({
        outcome: ran.outcome,
        ...codes,
        ...(ran.hasValue ? { value: ran.value } : {}),
        ...(ran.error !== undefined ? { error: ran.error } : {}),
        ...output,
        ...measured,
      });
    }
    if (exit.code === 0) return finish({ outcome: 'succeeded', ...codes, ...output, ...measured });
    return finish({ outcome: 'failed', ...codes, error: describeExit(exit.code, exit.signal), ...output, ...measured });
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}
