/**
 * CLI commands that talk to a running master through the REST API (the TS client):
 * `nodes`, `node`, `submit`, `jobs`, `job`, `cancel`. The URL comes from --url or
 * $PICLUSTER_URL (default http://127.0.0.1:8080); the token from --token, $PICLUSTER_TOKEN
 * or `<dataDir>/admin-token` when run on the master.
 */
import { Cluster, ClusterApiError, type CommonJobOptions, type JobInfo } from '../../client/cluster.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileNameProblem } from '../../common/protocol.ts';
import type { CommandModule } from '../main.ts';
import { parseFlags, UsageError } from '../args.ts';

export const common = {
  url: { type: 'string' },
  token: { type: 'string' },
  ca: { type: 'string' },
  pin: { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function cluster(values: { url?: string; token?: string; ca?: string; pin?: string; 'data-dir'?: string }): Cluster {
  return new Cluster({
    ...(values.ca ? { caFile: values.ca } : {}),
    ...(values.pin ? { pin: values.pin } : {}),
    ...(values.url ? { url: values.url } : {}),
    ...(values.token ? { token: values.token } : {}),
    ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
  });
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');

/** Prints rows as aligned columns. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ')).join('\n');
}

const ago = (t: number | undefined) => (t === undefined ? undefined : `${Math.max(0, Math.round((Date.now() - t) / 1000))}s ago`);

export function wrap(usage: string, fn: (argv: string[]) => Promise<number | undefined>): CommandModule {
  return {
    async run(argv) {
      if (argv.includes('--help') || argv.includes('-h')) {
        out(usage);
        return 0;
      }
      try {
        return await fn(argv);
      } catch (e) {
        if (e instanceof ClusterApiError) {
          process.stderr.write(`picluster: ${e.code}: ${e.message}\n`);
          return e.status === 0 ? 3 : 1;
        }
        if (e instanceof UsageError) {
          process.stderr.write(`picluster: ${e.message}\n${usage}\n`);
          return 2;
        }
        throw e;
      }
    },
  };
}

export const nodesCommand = wrap('usage: picluster nodes [--json] [--url URL] [--token T]', async (argv) => {
  const { values } = parseFlags(argv, common);
  const nodes = await cluster(values).nodes();
  if (values.json) return (out(JSON.stringify(nodes, null, 2)), 0);
  out(
    table(
      ['NAME', 'STATE', 'SLOTS', 'BUSY', 'DONE', 'FAILED', 'MODEL', 'IP', 'TEMP', 'LAST SEEN'],
      nodes.map((n) => {
        const h = n.health as { temperatureC?: number } | undefined;
        return [
          n.name as string,
          n.state as string,
          n.slots as number,
          n.running as number,
          n.jobsDone as number,
          n.jobsFailed as number,
          n.model as string | undefined,
          n.ip as string | undefined,
          h?.temperatureC !== undefined ? `${h.temperatureC.toFixed(1)}°C` : undefined,
          ago(n.lastSeenAt as number | undefined),
        ];
      }),
    ),
  );
  return 0;
});

export const nodeCommand = wrap('usage: picluster node <name> [--json]', async (argv) => {
  const { values, positionals } = parseFlags(argv, common, true);
  if (positionals.length !== 1) throw new UsageError('node takes exactly one node name');
  const n = await cluster(values).node(positionals[0]!);
  out(JSON.stringify(n, null, 2));
  return 0;
});

function jobLine(j: JobInfo): (string | number | undefined)[] {
  return [j.id, j.state, j.kind, j.group, j.priority, j.node, j.attempts, j.name, j.reason];
}

export const jobsCommand = wrap('usage: picluster jobs [--state s[,s]] [--group g] [--node n] [--limit n] [--json]', async (argv) => {
  const { values } = parseFlags(argv, { ...common, state: { type: 'string' }, group: { type: 'string' }, node: { type: 'string' }, limit: { type: 'string' } });
  const c = cluster(values);
  const page = await c.jobs({
    ...(values.state ? { state: values.state } : {}),
    ...(values.group ? { group: values.group } : {}),
    ...(values.node ? { node: values.node } : {}),
    limit: values.limit ? Number(values.limit) : 50,
  });
  if (values.json) return (out(JSON.stringify(page, null, 2)), 0);
  out(table(['ID', 'STATE', 'KIND', 'GROUP', 'PRIO', 'NODE', 'ATTEMPTS', 'NAME', 'REASON'], page.jobs.map(jobLine)));
  out(`(${page.jobs.length} of ${page.total})`);
  return 0;
});

export const jobCommand = wrap(
  `usage: picluster job <id> [--json] [--artifacts] [--download name|--download-all] [--out dir]

--artifacts lists the files the job wrote under $PICLUSTER_OUT; --download / --download-all
write them into --out (default: the current directory).`,
  async (argv) => {
    const { values, positionals } = parseFlags(
      argv,
      { ...common, artifacts: { type: 'boolean' }, download: { type: 'string' }, 'download-all': { type: 'boolean' }, out: { type: 'string' } },
      true,
    );
    const id = Number(positionals[0]);
    if (positionals.length !== 1 || !Number.isInteger(id) || id < 1) throw new UsageError('job takes one job id');
    const c = cluster(values);
    if (values.artifacts || values.download !== undefined || values['download-all']) return artifactsOf(c, id, values);
    const job = await c.job(id);
    if (values.json) return (out(JSON.stringify(job, null, 2)), 0);
    out(JSON.stringify(job, null, 2));
    const o = await c.output(id);
    if (o.stdout) out(`--- stdout ---\n${o.stdout}`);
    if (o.stderr) out(`--- stderr ---\n${o.stderr}`);
    return 0;
  },
);

async function artifactsOf(c: Cluster, id: number, values: { json?: boolean; download?: string; 'download-all'?: boolean; out?: string }): Promise<number> {
  const list = await c.artifacts(id);
  const wanted = values['download-all'] ? list.artifacts : list.artifacts.filter((a) => a.name === values.download);
  if (values.download !== undefined && wanted.length === 0) {
    process.stderr.write(`picluster: job ${id} has no artifact named ${values.download}\n`);
    return 1;
  }
  for (const a of wanted) {
    const bad = fileNameProblem(a.name);
    if (bad) throw new ClusterApiError(0, 'BAD_ARTIFACT_NAME', `not writing artifact: ${bad}`);
    const target = join(values.out ?? '.', a.name);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, await c.downloadArtifact(id, a.name));
    out(`${target} (${a.sizeBytes} bytes)`);
  }
  if (wanted.length) return 0;
  if (values.json) return (out(JSON.stringify(list, null, 2)), 0);
  out(
    table(
      ['NAME', 'BYTES', 'SHA256'],
      list.artifacts.map((a) => [a.name, a.sizeBytes, a.sha256]),
    ),
  );
  if (list.note) out(`note: ${list.note}`);
  return 0;
}

export const cancelCommand = wrap('usage: picluster cancel <id>', async (argv) => {
  const { values, positionals } = parseFlags(argv, common, true);
  const id = Number(positionals[0]);
  if (positionals.length !== 1 || !Number.isInteger(id) || id < 1) throw new UsageError('cancel takes one job id');
  const j = await cluster(values).cancel(id);
  out(j.state === 'cancelled' ? `job ${id} cancelled` : `job ${id} is being cancelled on ${j.node ?? 'its node'}`);
  return 0;
});

export const submitCommand = wrap(
  `usage: picluster submit [--group g] [--priority n] [--retries n] [--retry-on causes] [--timeout ms] [--label k=v]... [--name s] [--detach] -- cmd args...

Submits an exec job and, unless --detach, waits for it and prints its stdout/stderr;
the exit code is the job's (1 if it failed without one). --retry-on takes a comma list of
failure,timeout,node-lost,rejected (default node-lost,rejected: a job that fails by itself
is not retried).`,
  async (argv) => {
    const dash = argv.indexOf('--');
    const flags = dash === -1 ? argv : argv.slice(0, dash);
    const command = dash === -1 ? [] : argv.slice(dash + 1);
    const { values, positionals } = parseFlags(
      flags,
      {
        ...common,
        group: { type: 'string' },
        priority: { type: 'string' },
        retries: { type: 'string' },
        'retry-on': { type: 'string' },
        timeout: { type: 'string' },
        name: { type: 'string' },
        label: { type: 'string', multiple: true },
        detach: { type: 'boolean', short: 'd' },
      },
      true,
    );
    const argvToRun = command.length ? command : positionals;
    if (argvToRun.length === 0) throw new UsageError('nothing to run: put the command after --');
    const num = (v: string | undefined, what: string) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n)) throw new UsageError(`--${what} takes a whole number`);
      return n;
    };
    const labels = Object.fromEntries(
      (values.label ?? []).map((l) => {
        const i = l.indexOf('=');
        if (i < 1) throw new UsageError(`--label takes key=value, got '${l}'`);
        return [l.slice(0, i), l.slice(i + 1)];
      }),
    );
    const priority = num(values.priority, 'priority');
    const retries = num(values.retries, 'retries');
    const timeoutMs = num(values.timeout, 'timeout');
    const retryOn = values['retry-on']?.split(',').filter(Boolean);
    const causes = ['failure', 'timeout', 'node-lost', 'rejected'];
    const badCause = retryOn?.find((c) => !causes.includes(c));
    if (badCause !== undefined) throw new UsageError(`--retry-on takes ${causes.join(',')}; got '${badCause}'`);
    const c = cluster(values);
    const job = await c.submit({
      argv: argvToRun,
      ...(values.group ? { group: values.group } : {}),
      ...(values.name ? { name: values.name } : {}),
      ...(priority !== undefined ? { priority } : {}),
      ...(retries !== undefined ? { retries } : {}),
      ...(retryOn !== undefined ? { retryOn: retryOn as NonNullable<CommonJobOptions['retryOn']> } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(Object.keys(labels).length ? { requirements: { labels } } : {}),
    });
    if (values.detach) {
      out(String(job.id));
      return 0;
    }
    const r = await job.result();
    if (values.json) return (out(JSON.stringify(r, null, 2)), 0);
    if (r.stdout) process.stdout.write(r.stdout);
    if (r.stderr) process.stderr.write(r.stderr);
    if (r.state !== 'succeeded') {
      process.stderr.write(`picluster: job ${r.id} ${r.state}${r.reason ? `: ${r.reason}` : ''}\n`);
      return typeof r.exitCode === 'number' && r.exitCode !== 0 ? r.exitCode : 1;
    }
    return 0;
  },
);
