/**
 * Dispatch benchmark: the real Dispatcher + fastify app + SQLite store on loopback, and N
 * simulated agents in this process speaking the real protocol over real WebSockets, running
 * no-op jobs (they answer each `assign` with a result at once).
 *
 *   npm run bench:dispatch -- [--agents 100] [--jobs 20000] [--store sqlite|memory]
 *
 * Two phases:
 *  1. throughput: all jobs submitted over HTTP in batches of 1000; time until every result is
 *     committed (end to end: submit → assign → result → commit → ack) → jobs/s.
 *  2. latency: jobs submitted in small batches at a pace below capacity; dispatch latency =
 *     job committed (ready) → `assign` received by the agent, p50/p99.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import type { Clock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { PROTOCOL_VERSION, type DispatcherMessage } from '../common/protocol.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { Dispatcher } from '../dispatcher/dispatcher.ts';
import { buildApp } from '../dispatcher/http/app.ts';
import { createMetrics } from '../dispatcher/metrics.ts';
import { MemoryStore } from '../dispatcher/store/memory-store.ts';
import { SqliteStore } from '../dispatcher/store/sqlite-store.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '100' },
    jobs: { type: 'string', default: '20000' },
    'latency-jobs': { type: 'string', default: '5000' },
    store: { type: 'string', default: 'sqlite' },
    slots: { type: 'string', default: '4' },
  },
});
const AGENTS = Number(values.agents);
const JOBS = Number(values.jobs);
const LAT_JOBS = Number(values['latency-jobs']);
const SLOTS = Number(values.slots);
const SECRET = 'bench-secret-0123456789abcdef';
const ADMIN = 'bench-admin-0123456789abcdef';

// Sub-millisecond clock so latencies are not rounded to whole milliseconds.
const clock: Clock = { now: () => performance.timeOrigin + performance.now() };
const dir = mkdtempSync(join(tmpdir(), 'picluster-bench-'));
const store = values.store === 'memory' ? new MemoryStore() : new SqliteStore(join(dir, 'bench.db'));
const dispatcher = new Dispatcher({
  store,
  clock,
  log: silentLogger(),
  clusterSecret: SECRET,
  scheduler: { strategy: 'round-robin', heartbeatMs: 2000, missedHeartbeats: 3, restartGraceMs: 1000, defaultRetries: 0, retryBackoffMs: 0, retryBackoffMaxMs: 0, outputLimitBytes: 65536 },
});
dispatcher.start();
const app = await buildApp({ dispatcher, registry: createMetrics(dispatcher, new Registry(), { processMetrics: false }), log: silentLogger(), auth: { adminToken: ADMIN }, version: 'bench', storeKind: store.kind });
const url = await app.listen({ host: '127.0.0.1', port: 0 });

const submittedAt = new Map<number, number>();
const latencies: number[] = [];
let measuring = false;
let done = 0;
let onDone: (() => void) | undefined;
let target = 0;

async function startAgent(i: number): Promise<void> {
  const name = `sim-${i}`;
  const ws = new WebSocket(url.replace('http', 'ws') + '/agent', { perMessageDeflate: false });
  await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)));
  const welcomed = new Promise<void>((res) => {
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as DispatcherMessage;
      if (m.type === 'welcome') {
        ws.send(JSON.stringify({ type: 'pull', slots: SLOTS }));
        res();
      } else if (m.type === 'assign') {
        if (measuring) {
          const t = submittedAt.get(m.jobId);
          if (t !== undefined) latencies.push(clock.now() - t);
        }
        const now = Date.now();
        ws.send(JSON.stringify({ type: 'result', result: { attemptId: m.attemptId, jobId: m.jobId, outcome: 'succeeded', exitCode: 0, startedAt: now, durationMs: 0 } }));
        ws.send(JSON.stringify({ type: 'pull', slots: 1 }));
      } else if (m.type === 'result-ack') {
        done++;
        if (done >= target) onDone?.();
      }
    });
  });
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      token: deriveNodeToken(SECRET, name),
      node: { name, cpus: SLOTS, memoryMb: 1024, arch: 'arm64', platform: 'linux', agentVersion: 'sim', bootId: `boot-${i}` },
      running: [],
    }),
  );
  await welcomed;
}

async function post(jobs: unknown[]): Promise<{ id: number }[]> {
  const r = await fetch(`${url}/api/jobs`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(jobs) });
  if (r.status !== 201) throw new Error(`submit failed: ${r.status} ${await r.text()}`);
  return (await r.json()) as { id: number }[];
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

await Promise.all(Array.from({ length: AGENTS }, (_, i) => startAgent(i)));

// Phase 1: throughput.
const job = { argv: ['true'] };
target = JOBS;
const allDone = new Promise<void>((res) => (onDone = res));
const t0 = performance.now();
for (let sent = 0; sent < JOBS; sent += 1000) await post(Array.from({ length: Math.min(1000, JOBS - sent) }, () => job));
const tSubmitted = performance.now();
await allDone;
const t1 = performance.now();
const throughput = JOBS / ((t1 - t0) / 1000);

// Phase 2: latency at a pace below capacity (batches of 20 every 5 ms ≈ 4,000 jobs/s offered).
measuring = true;
done = 0;
target = LAT_JOBS;
const latDone = new Promise<void>((res) => (onDone = res));
for (let sent = 0; sent < LAT_JOBS; sent += 20) {
  const before = clock.now();
  const created = await post(Array.from({ length: Math.min(20, LAT_JOBS - sent) }, () => job));
  // The job is ready when the submission is committed: the response has been produced by then;
  // take the request start as an upper bound on that moment (latency is over-, not under-stated).
  for (const c of created) submittedAt.set(c.id, before);
  await new Promise((r) => setTimeout(r, 5));
}
await latDone;

const mem = process.memoryUsage();
console.log(
  JSON.stringify(
    {
      store: store.kind,
      agents: AGENTS,
      slotsPerAgent: SLOTS,
      throughput: { jobs: JOBS, seconds: +((t1 - t0) / 1000).toFixed(2), submitSeconds: +((tSubmitted - t0) / 1000).toFixed(2), jobsPerSecond: Math.round(throughput) },
      dispatchLatencyMs: { jobs: latencies.length, p50: +pct(latencies, 50).toFixed(2), p99: +pct(latencies, 99).toFixed(2), max: +Math.max(...latencies).toFixed(2) },
      rssMb: Math.round(mem.rss / 1048576),
      counts: dispatcher.jobCounts(),
    },
    null,
    2,
  ),
);
await app.close();
store.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
