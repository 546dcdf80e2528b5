/**
 * The TypeScript client: `new Cluster({ url, token })`, `submit()` returns a job whose
 * `result()` resolves when it ends; `map()` runs a function (or a command) over many
 * arguments, dispy style. Uses only `fetch` (Node ≥ 18).
 */
import { fetchWithTrust } from '../common/tls-fetch.ts';
import { loadTrust } from '../common/tls-pin.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// Types only: the REST shapes are the dispatcher's TypeBox schemas (one declaration; no runtime import).
import type { ApiShapes } from '../dispatcher/http/api-schemas.ts';

export type { ApiShapes } from '../dispatcher/http/api-schemas.ts';
export type JobState = ApiShapes['Job']['state'];
export type NodeInfo = ApiShapes['Node'];

/**
 * Every REST call this client makes: method, path (OpenAPI form) and the `$id` of the response
 * schema (`array`: a list of them). client/openapi.test.ts checks this table against the
 * master's OpenAPI document, so the client and the API cannot drift apart.
 */
export const CLIENT_ROUTES = {
  submit: { method: 'POST', path: '/api/jobs', status: 201, response: 'Job' },
  submitMany: { method: 'POST', path: '/api/jobs', status: 201, response: 'Job', array: true },
  wait: { method: 'GET', path: '/api/jobs/{id}/wait', status: 200, response: 'WaitedJob' },
  job: { method: 'GET', path: '/api/jobs/{id}', status: 200, response: 'FullJob' },
  jobs: { method: 'GET', path: '/api/jobs', status: 200, response: 'JobList' },
  jobCounts: { method: 'GET', path: '/api/jobs/status', status: 200, response: 'JobCounts' },
  output: { method: 'GET', path: '/api/jobs/{id}/output', status: 200, response: 'JobOutput' },
  cancel: { method: 'DELETE', path: '/api/jobs/{id}', status: 200, response: 'Job' },
  nodes: { method: 'GET', path: '/api/nodes', status: 200, response: 'NodeList' },
  node: { method: 'GET', path: '/api/nodes/{name}', status: 200, response: 'NodeDetail' },
  addNode: { method: 'POST', path: '/api/nodes', status: 201, response: 'Node' },
  removeNode: { method: 'DELETE', path: '/api/nodes/{name}', status: 200, response: 'RemovedNode' },
  reboot: { method: 'POST', path: '/api/nodes/{name}/reboot', status: 200, response: 'RebootResult' },
  'power-on': { method: 'POST', path: '/api/nodes/{name}/power-on', status: 200, response: 'PowerOp' },
  'power-off': { method: 'POST', path: '/api/nodes/{name}/power-off', status: 200, response: 'PowerOp' },
  'power-cycle': { method: 'POST', path: '/api/nodes/{name}/power-cycle', status: 200, response: 'PowerOp' },
  drain: { method: 'POST', path: '/api/nodes/{name}/drain', status: 200, response: 'Node' },
  undrain: { method: 'POST', path: '/api/nodes/{name}/undrain', status: 200, response: 'Node' },
  maintenance: { method: 'POST', path: '/api/nodes/{name}/maintenance', status: 200, response: 'Node' },
  identify: { method: 'POST', path: '/api/nodes/{name}/identify', status: 200, response: 'IdentifyResult' },
  alerts: { method: 'GET', path: '/api/alerts', status: 200, response: 'AlertList' },
  prune: { method: 'POST', path: '/api/admin/prune', status: 200, response: 'PruneReport' },
  powerOps: { method: 'GET', path: '/api/power/operations', status: 200, response: 'PowerOpList' },
  overview: { method: 'GET', path: '/api/cluster/overview', status: 200, response: 'Overview' },
} as const satisfies Record<string, { method: string; path: string; status: number; response: keyof ApiShapes; array?: true }>;

type Routes = typeof CLIENT_ROUTES;
type ResponseOf<K extends keyof Routes> = Routes[K] extends { array: true } ? ApiShapes[Routes[K]['response']][] : ApiShapes[Routes[K]['response']];
/** Node actions (POST /api/nodes/{name}/<action>) and what each answers. */
export type NodeAction = 'reboot' | 'power-on' | 'power-off' | 'power-cycle' | 'drain' | 'undrain' | 'maintenance' | 'identify';

export interface ArtifactList {
  readonly jobId: number;
  readonly attemptId?: number;
  readonly artifacts: readonly { readonly name: string; readonly sha256: string; readonly sizeBytes: number }[];
  /** Why some were left out (count/size bounds, a failed upload). */
  readonly note?: string;
}

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

/** A job as the API returns it; `result` once it has ended (from `job()` / waits). */
export type JobInfo = ApiShapes['Job'] & { readonly result?: ApiShapes['Result'] };

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
  /** https: verify the master against this CA file (default $PICLUSTER_CA) … */
  readonly caFile?: string;
  /** … or by its certificate's SHA-256, `sha256:<hex>` (default $PICLUSTER_PIN). */
  readonly pin?: string;
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
  private readonly fetch: typeof fetch;

  constructor(options: ClusterOptions = {}) {
    // A bad CA file or pin throws here (TlsTrustError naming it), before any request.
    this.fetch = fetchWithTrust(
      loadTrust({ caFile: options.caFile ?? process.env.PICLUSTER_CA, pin: options.pin ?? process.env.PICLUSTER_PIN }, { ca: 'caFile', pin: 'pin' }),
    );
    this.url = (options.url ?? process.env.PICLUSTER_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    this.token = options.token ?? process.env.PICLUSTER_TOKEN ?? readToken(options.dataDir ?? process.env.PICLUSTER_DATA_DIR ?? './data');
  }

  async submit(job: JobInput): Promise<SubmittedJob> {
    const created = await this.call('submit', {}, toBody(job));
    return new SubmittedJob(this, created.id, created.state);
  }

  /** Submits many jobs in one committed batch; same order as given. */
  async submitMany(jobs: readonly JobInput[]): Promise<SubmittedJob[]> {
    const created = await this.call('submitMany', {}, jobs.map(toBody));
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
      const j = await this.call('wait', { id }, undefined, { timeoutMs: 25000 });
      if (j.done) {
        const out = await this.call('output', { id });
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

  job(id: number): Promise<ApiShapes['FullJob']> {
    return this.call('job', { id });
  }
  jobs(query: { state?: string; group?: string; node?: string; limit?: number; offset?: number } = {}): Promise<ApiShapes['JobList']> {
    return this.call('jobs', {}, undefined, query);
  }
  jobCounts(): Promise<ApiShapes['JobCounts']> {
    return this.call('jobCounts');
  }
  output(id: number): Promise<ApiShapes['JobOutput']> {
    return this.call('output', { id });
  }
  /** Files the job's last attempt wrote under $PICLUSTER_OUT (docs/files.md). */
  async artifacts(id: number): Promise<ArtifactList> {
    return (await this.request('GET', `/api/jobs/${id}/artifacts`)) as ArtifactList;
  }
  /** One artifact's bytes. */
  async downloadArtifact(id: number, name: string): Promise<Buffer> {
    const path = `/api/jobs/${id}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`;
    const res = await this.fetch(this.url + path, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {} }).catch((e: Error) => {
      throw unreachable(this.url, e);
    });
    if (!res.ok) {
      const err = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
      throw new ClusterApiError(res.status, err.code ?? 'HTTP_ERROR', err.message ?? `GET ${path} answered ${res.status}`);
    }
    return Buffer.from(await res.arrayBuffer());
  }
  cancel(id: number): Promise<ApiShapes['Job']> {
    return this.call('cancel', { id });
  }
  nodes(): Promise<ApiShapes['NodeList']> {
    return this.call('nodes');
  }
  node(name: string): Promise<ApiShapes['NodeDetail']> {
    return this.call('node', { name });
  }
  /** Node actions: reboot, power-on, power-off, power-cycle, drain, undrain, maintenance, identify. */
  nodeAction<A extends string>(
    name: string,
    action: A,
    body: Record<string, unknown> = {},
  ): Promise<A extends NodeAction ? ResponseOf<A> : Record<string, unknown>> {
    type Answer = A extends NodeAction ? ResponseOf<A> : Record<string, unknown>;
    if (isNodeAction(action)) return this.call(action, { name }, body) as Promise<Answer>;
    // Not a route this client knows: sent as is, the master answers (404 names the route).
    return this.request('POST', `/api/nodes/${encodeURIComponent(name)}/${action}`, body) as Promise<Answer>;
  }
  addNode(node: Record<string, unknown>): Promise<ApiShapes['Node']> {
    return this.call('addNode', {}, node);
  }
  removeNode(name: string): Promise<ApiShapes['RemovedNode']> {
    return this.call('removeNode', { name });
  }
  /** Prunes finished jobs older than `olderThanDays` (default: the master's store.jobHistoryDays) and old history, now (admin). */
  prune(opts: { olderThanDays?: number } = {}): Promise<ApiShapes['PruneReport']> {
    return this.call('prune', {}, opts);
  }

  alerts(open?: boolean): Promise<ApiShapes['AlertList']> {
    return this.call('alerts', {}, undefined, { open });
  }
  powerOps(node?: string): Promise<ApiShapes['PowerOpList']> {
    return this.call('powerOps', {}, undefined, { node });
  }
  overview(): Promise<ApiShapes['Overview']> {
    return this.call('overview');
  }

  /** One call of CLIENT_ROUTES: fills `{params}` in the path, adds the query, types the answer by the route's schema. */
  private async call<K extends keyof Routes>(
    route: K,
    params: Record<string, string | number> = {},
    body?: unknown,
    query: Record<string, string | number | boolean | undefined> = {},
  ): Promise<ResponseOf<K>> {
    const r = CLIENT_ROUTES[route];
    const path = r.path.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(String(params[k])));
    const qs = new URLSearchParams(
      Object.entries(query)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]): [string, string] => [k, String(v)]),
    );
    // The master validates against the same schemas; what it answers is the route's shape.
    return (await this.request(r.method, `${path}${qs.size ? `?${qs}` : ''}`, body)) as ResponseOf<K>;
  }

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await this.fetch(this.url + path, {
        method,
        headers: { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw unreachable(this.url, e as Error);
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

const NODE_ACTIONS: readonly string[] = [
  'reboot',
  'power-on',
  'power-off',
  'power-cycle',
  'drain',
  'undrain',
  'maintenance',
  'identify',
] satisfies NodeAction[];
const isNodeAction = (a: string): a is NodeAction => NODE_ACTIONS.includes(a);

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

/** Node's codes for a certificate the client's trust refuses (chain, self-signed, expiry, host name). */
const CERT_REFUSED = /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID)/;

/**
 * A request that got no answer: TLS_PIN_MISMATCH or TLS_TRUST when the client refused the
 * master's certificate (as clients/python raises them), UNREACHABLE otherwise.
 */
function unreachable(url: string, e: Error): ClusterApiError {
  const cause = (e.cause instanceof Error ? e.cause : e) as Error & { code?: unknown };
  const code = typeof cause.code === 'string' ? cause.code : '';
  if (code === 'TLS_PIN_MISMATCH') return new ClusterApiError(0, code, `${cause.message} (the master at ${url} is not the one --pin/PICLUSTER_PIN names)`);
  if (code === 'TLS_TRUST' || CERT_REFUSED.test(code)) {
    return new ClusterApiError(
      0,
      'TLS_TRUST',
      `the master's certificate at ${url} is not trusted: ${cause.message} (give its CA with --ca/PICLUSTER_CA or pin it with --pin/PICLUSTER_PIN)`,
    );
  }
  return new ClusterApiError(0, 'UNREACHABLE', `cannot reach the master at ${url}: ${cause.message} (is \`picluster master\` running? set PICLUSTER_URL)`);
}
