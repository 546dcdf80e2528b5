/**
 * The TypeScript client: `new Cluster({ url, token })`, `submit()` returns a job whose
 * `result()` resolves when it ends; `map()` runs a function (or a command) over many
 * arguments, dispy style. Uses only `fetch` (Node ≥ 18).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface CommonJobOptions {
  readonly name?: string;
  readonly priority?: number;
  readonly group?: string;
  readonly retries?: number;
  /** Which attempt ends are retried within `retries`; default node-lost and rejected (a job that fails by itself is not). */
  readonly retryOn?: readonly ('failure' | 'timeout' | 'node-lost' | 'rejected')[];
  readonly timeoutMs?: number;
  readonly env?: Record<string, string>;
  readonly requirements?: { labels?: Record<string, string>; cpus?: number; memoryMb?: number; arch?: string; node?: string };
  /** Enforced on nodes with cgroup v2 controllers (memory.max, cpu.max, pids.max). */
  readonly limits?: { memoryMb?: number; cpus?: number; pids?: number };
}

export type JobInput =
  | (CommonJobOptions & { readonly argv: readonly string[]; readonly stdin?: string })
  | (CommonJobOptions & { readonly source: string; readonly args?: readonly unknown[] })
  // A function is sent as source: it must be self-contained (no closures over local variables).
  | (CommonJobOptions & { readonly fn: (...args: never[]) => unknown; readonly args?: readonly unknown[] });

export interface JobInfo {
  readonly id: number;
  readonly state: JobState;
  readonly kind: 'exec' | 'function' | 'python';
  readonly name?: string;
  readonly node?: string;
  readonly attempts: number;
  readonly reason?: string;
  readonly submittedAt: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly group: string;
  readonly priority: number;
  readonly result?: {
    outcome: string;
    exitCode?: number | null;
    signal?: string;
    value?: unknown;
    error?: string;
    durationMs?: number;
    cpuMs?: number;
    peakMemoryBytes?: number;
  };
}

export interface JobResult {
  readonly id: number;
  readonly state: JobState;
  readonly node?: string;
  readonly exitCode?: number | null;
  readonly signal?: string;
  readonly value?: unknown;
  readonly error?: string;
  readonly reason?: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs?: number;
  readonly attempts: number;
}

export class ClusterApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ClusterApiError';
  }
}

export class JobFailedError extends Error {
  constructor(readonly result: JobResult) {
    super(`job ${result.id} ${result.state}${result.reason ? `: ${result.reason}` : ''}`);
    this.name = 'JobFailedError';
  }
}

export interface ClusterOptions {
  /** e.g. `http://master:8080`; default $PICLUSTER_URL or http://127.0.0.1:8080. */
  readonly url?: string;
  /** Admin token; default $PICLUSTER_TOKEN, else `<dataDir>/admin-token`. */
  readonly token?: string;
  readonly dataDir?: string;
}

export class SubmittedJob {
  constructor(
    private readonly cluster: Cluster,
    readonly id: number,
    readonly state: JobState,
  ) {}
  /** Resolves when the job has ended (any final state). */
  result(): Promise<JobResult> {
    return this.cluster.waitForResult(this.id);
  }
  /** The function's return value (or stdout for exec jobs); rejects with JobFailedError unless it succeeded. */
  async value(): Promise<unknown> {
    const r = await this.result();
    if (r.state !== 'succeeded') throw new JobFailedError(r);
    return r.value !== undefined ? r.value : r.stdout;
  }
  cancel(): Promise<JobInfo> {
    return this.cluster.cancel(this.id);
  }
}

export class Cluster {
  readonly url: string;
  private readonly token: string | undefined;

  constructor(options: ClusterOptions = {}) {
    this.url = (options.url ?? process.env.PICLUSTER_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    this.token = options.token ?? process.env.PICLUSTER_TOKEN ?? readToken(options.dataDir ?? process.env.PICLUSTER_DATA_DIR ?? './data');
  }

  async submit(job: JobInput): Promise<SubmittedJob> {
    const created = (await this.request('POST', '/api/jobs', toBody(job))) as JobInfo;
    return new SubmittedJob(this, created.id, created.state);
  }

  /** Submits many jobs in one committed batch; same order as given. */
  async submitMany(jobs: readonly JobInput[]): Promise<SubmittedJob[]> {
    const created = (await this.request('POST', '/api/jobs', jobs.map(toBody))) as JobInfo[];
    return created.map((c) => new SubmittedJob(this, c.id, c.state));
  }

  /**
   * Runs `fn(...args)` for every args tuple on the cluster and returns the values in order.
   * Rejects with the first JobFailedError if any job did not succeed.
   */
  async map<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, argsList: readonly A[], options: CommonJobOptions = {}): Promise<Awaited<R>[]> {
    const jobs = await this.submitMany(argsList.map((args) => ({ ...options, fn: fn as never, args })));
    return Promise.all(jobs.map((j) => j.value() as Promise<Awaited<R>>));
  }

  async waitForResult(id: number): Promise<JobResult> {
    for (;;) {
      const j = (await this.request('GET', `/api/jobs/${id}/wait?timeoutMs=25000`)) as JobInfo & { done: boolean };
      if (j.done) {
        const out = (await this.request('GET', `/api/jobs/${id}/output`)) as { stdout: string; stderr: string };
        const r = j.result;
        return {
          id,
          state: j.state,
          attempts: j.attempts,
          stdout: out.stdout,
          stderr: out.stderr,
          ...(j.node !== undefined ? { node: j.node } : {}),
          ...(j.reason !== undefined ? { reason: j.reason } : {}),
          ...(r?.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
          ...(r?.signal !== undefined ? { signal: r.signal } : {}),
          ...(r && 'value' in r ? { value: r.value } : {}),
          ...(r?.error !== undefined ? { error: r.error } : {}),
          ...(r?.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
        };
      }
    }
  }

  job(id: number): Promise<JobInfo & { attemptList: unknown[] }> {
    return this.request('GET', `/api/jobs/${id}`) as Promise<JobInfo & { attemptList: unknown[] }>;
  }
  jobs(query: { state?: string; group?: string; node?: string; limit?: number; offset?: number } = {}): Promise<{ total: number; jobs: JobInfo[] }> {
    const qs = new URLSearchParams(
      Object.entries(query)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]): [string, string] => [k, String(v)]),
    );
    return this.request('GET', `/api/jobs${qs.size ? `?${qs}` : ''}`) as Promise<{ total: number; jobs: JobInfo[] }>;
  }
  jobCounts(): Promise<Record<JobState, number>> {
    return this.request('GET', '/api/jobs/status') as Promise<Record<JobState, number>>;
  }
  output(id: number): Promise<{ stdout: string; stderr: string; running: boolean }> {
    return this.request('GET', `/api/jobs/${id}/output`) as Promise<{ stdout: string; stderr: string; running: boolean }>;
  }
  cancel(id: number): Promise<JobInfo> {
    return this.request('DELETE', `/api/jobs/${id}`) as Promise<JobInfo>;
  }
  nodes(): Promise<Record<string, unknown>[]> {
    return this.request('GET', '/api/nodes') as Promise<Record<string, unknown>[]>;
  }
  node(name: string): Promise<Record<string, unknown>> {
    return this.request('GET', `/api/nodes/${encodeURIComponent(name)}`) as Promise<Record<string, unknown>>;
  }
  /** Node actions: reboot, power-on, power-off, power-cycle, drain, undrain, maintenance, identify. */
  nodeAction(name: string, action: string, body: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.request('POST', `/api/nodes/${encodeURIComponent(name)}/${action}`, body) as Promise<Record<string, unknown>>;
  }
  addNode(node: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.request('POST', '/api/nodes', node) as Promise<Record<string, unknown>>;
  }
  removeNode(name: string): Promise<Record<string, unknown>> {
    return this.request('DELETE', `/api/nodes/${encodeURIComponent(name)}`) as Promise<Record<string, unknown>>;
  }
  alerts(open?: boolean): Promise<{ breakerOpen: boolean; alerts: Record<string, unknown>[] }> {
    return this.request('GET', `/api/alerts${open === undefined ? '' : `?open=${open}`}`) as Promise<{
      breakerOpen: boolean;
      alerts: Record<string, unknown>[];
    }>;
  }
  powerOps(node?: string): Promise<Record<string, unknown>[]> {
    return this.request('GET', `/api/power/operations${node ? `?node=${encodeURIComponent(node)}` : ''}`) as Promise<Record<string, unknown>[]>;
  }
  overview(): Promise<Record<string, unknown>> {
    return this.request('GET', '/api/cluster/overview') as Promise<Record<string, unknown>>;
  }

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new ClusterApiError(
        0,
        'UNREACHABLE',
        `cannot reach the master at ${this.url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message} (is \`picluster master\` running? set PICLUSTER_URL)`,
      );
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ClusterApiError(
        res.status,
        'NOT_PICLUSTER',
        `${this.url} answered ${method} ${path} with something that is not picluster's JSON (wrong URL or port?)`,
      );
    }
    if (!res.ok) {
      const err = (data ?? {}) as { code?: string; message?: string; field?: string };
      throw new ClusterApiError(res.status, err.code ?? 'HTTP_ERROR', err.message ?? `${method} ${path} answered ${res.status}`, err.field);
    }
    return data;
  }
}

function readToken(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function toBody(job: JobInput): Record<string, unknown> {
  const { fn, ...rest } = job as JobInput & { fn?: (...args: never[]) => unknown };
  if (fn) return { ...rest, source: `export default ${functionSource(fn)};\n` };
  return rest as Record<string, unknown>;
}

/** `async function f(x) {…}`, `(x) => …` and method shorthand `f(x) {…}` all become expressions. */
function functionSource(fn: (...args: never[]) => unknown): string {
  const src = fn.toString();
  if (/^(async\s+)?(function\b|\(|[A-Za-z_$][\w$]*\s*=>)/.test(src)) return src;
  return `(${src.startsWith('async ') ? 'async function ' + src.slice(6) : 'function ' + src})`;
}
