/**
 * bench:scale's simulator thread: a Fleet (simulate/fleet.ts) of virtual agents, so the main
 * thread can sample the master and drive browsers and submissions without the fleet's timers
 * in its way. Messages: → `stop`; ← `ready` (connect time), `assigns` (job id + wall time),
 * `stats`, `failed`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Fleet, type FleetStats } from '../simulate/fleet.ts';

export interface AgentsInit {
  readonly url: string;
  readonly secret: string;
  readonly nodes: number;
  readonly jobMs: number;
  readonly concurrency: number;
}
export type FromAgents =
  | { type: 'ready'; connectS: number }
  | { type: 'assigns'; jobs: number[]; at: number[] }
  | { type: 'stats'; stats: FleetStats }
  | { type: 'failed'; message: string };

const init = workerData as AgentsInit;
const port = parentPort!;
let jobs: number[] = [];
let at: number[] = [];
const fleet = new Fleet({
  url: init.url,
  clusterSecret: init.secret,
  nodes: init.nodes,
  jobMs: init.jobMs,
  concurrency: init.concurrency,
  spreadLoopback: true,
  onAssign: (jobId, t) => {
    jobs.push(jobId);
    at.push(t);
  },
});
const flush = setInterval(() => {
  if (jobs.length) port.postMessage({ type: 'assigns', jobs, at } satisfies FromAgents);
  jobs = [];
  at = [];
  port.postMessage({ type: 'stats', stats: fleet.stats() } satisfies FromAgents);
}, 250);
port.on('message', (m: { type: 'stop' }) => {
  if (m.type !== 'stop') return;
  clearInterval(flush);
  fleet.stop();
  port.close();
});
const t0 = performance.now();
try {
  await fleet.start();
  port.postMessage({ type: 'ready', connectS: (performance.now() - t0) / 1000 } satisfies FromAgents);
} catch (e) {
  port.postMessage({ type: 'failed', message: `${(e as Error).message}; ${fleet.refusals.join('; ')}` } satisfies FromAgents);
}
