/** `picluster simulate --nodes N`: virtual agents (simulate/) against a running master. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER_SECRET_FILE } from '../../dispatcher/secrets.ts';
import { Fleet } from '../../simulate/fleet.ts';
import { parseFlags, UsageError } from '../args.ts';

export const USAGE = `usage: picluster simulate --nodes N [--url URL] [--secret S | --data-dir DIR] [--slots N] [--job-ms MS]
                          [--prefix NAME] [--concurrency N] [--duration-s S] [--seed N] [--spread-loopback]

Connects N virtual agents to a running master. Each speaks the real agent protocol over its
own WebSocket: hello with a simulated Pi identity, heartbeats (at the interval the master's
welcome gives) with a believable health report, pull credits, and for each job a result after
--job-ms (a 'sleep N' job lasts N seconds). Nothing is executed. Node tokens are derived from
the cluster secret: --secret, $PICLUSTER_CLUSTER_SECRET, or <data-dir>/${CLUSTER_SECRET_FILE}
(default ./data). --spread-loopback gives each agent its own source address (127.20.0.1, …;
a master on loopback then sees N clients, as with real nodes, not one rate-limited address). Runs until Ctrl-C or --duration-s, then prints what happened as JSON.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    nodes: { type: 'string' },
    url: { type: 'string' },
    secret: { type: 'string' },
    'data-dir': { type: 'string' },
    slots: { type: 'string', default: '1' },
    'job-ms': { type: 'string', default: '1000' },
    prefix: { type: 'string', default: 'sim' },
    concurrency: { type: 'string', default: '64' },
    'duration-s': { type: 'string' },
    seed: { type: 'string', default: '1' },
    'spread-loopback': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const int = (flag: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} takes a whole number from ${min} to ${max}`);
    return n;
  };
  const nodes = int('nodes', values.nodes, 1, 100_000);
  const slots = int('slots', values.slots, 1, 1024);
  const jobMs = int('job-ms', values['job-ms'], 0, 86_400_000);
  const concurrency = int('concurrency', values.concurrency, 1, 10_000);
  const seed = int('seed', values.seed, 0, 2 ** 31);
  const durationS = values['duration-s'] === undefined ? undefined : int('duration-s', values['duration-s'], 1, 86_400 * 7);
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(values.prefix)) throw new UsageError('--prefix takes lowercase letters, digits and dashes (at most 41)');
  const url = values.url ?? process.env.PICLUSTER_URL ?? 'http://127.0.0.1:8080';
  const clusterSecret = values.secret ?? process.env.PICLUSTER_CLUSTER_SECRET ?? readSecret(values['data-dir'] ?? process.env.PICLUSTER_DATA_DIR ?? './data');

  const fleet = new Fleet({
    url,
    clusterSecret,
    nodes,
    slots,
    jobMs,
    prefix: values.prefix,
    concurrency,
    seed,
    spreadLoopback: values['spread-loopback'] === true,
  });
  const t0 = performance.now();
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  try {
    await fleet.start();
  } catch (e) {
    fleet.stop();
    process.stderr.write(`picluster simulate: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`picluster simulate: ${nodes} virtual nodes connected to ${url} in ${((performance.now() - t0) / 1000).toFixed(1)} s; Ctrl-C stops\n`);
  await new Promise<void>((resolve) => {
    if (stop.signal.aborted) return resolve();
    stop.signal.addEventListener('abort', () => resolve());
    if (durationS !== undefined) setTimeout(resolve, durationS * 1000).unref();
  });
  const stats = fleet.stats();
  fleet.stop();
  process.stdout.write(JSON.stringify({ ...stats, seconds: Math.round((performance.now() - t0) / 100) / 10 }) + '\n');
  return 0;
}

function readSecret(dataDir: string): string {
  const path = join(dataDir, CLUSTER_SECRET_FILE);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`no cluster secret: give --secret, set PICLUSTER_CLUSTER_SECRET, or --data-dir of the master (${path}: ${(e as Error).message})`);
  }
}
