/**
 * Dispatch benchmark: the real Dispatcher + fastify app + SQLite store on loopback, and N
 * simulated agents speaking the real protocol over real WebSockets, running no-op jobs (they
 * answer each `assign` with a result at once). The agents live in a worker thread of this
 * process, so the main thread measures the dispatcher rather than the simulator.
 *
 *   npm run bench:dispatch -- [--agents 100] [--jobs 20000] [--store sqlite|memory] [--synchronous normal|full|full,normal]
 *
 * `--synchronous full,normal` runs the benchmark once per SQLite durability mode (each in a
 * process of its own, one after the other) and prints them side by side.
 *
 * Two phases:
 *  1. throughput: all jobs submitted over HTTP in batches of 1000; time until every result is
 *     committed and acked (submit → assign → result → commit → ack) → jobs/s.
 *  2. latency: jobs submitted in small batches at a pace below capacity; dispatch latency =
 *     submission request sent → `assign` received by the agent, p50/p99 (an upper bound on
 *     ready → assign: it includes the HTTP submit itself).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import type { Clock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { PROTOCOL_VERSION, type DispatcherMessage } from '../common/protocol.ts';
import { deriveNodeToken } from '../common/tokens.ts';

const SECRET = 'bench-secret-0123456789abcdef';
const ADMIN = 'bench-admin-0123456789abcdef';
// Sub-millisecond wall clock shared by both threads (performance.timeOrigin differs per thread).
const wall = (): number => performance.timeOrigin + performance.now();

interface AgentsInit {
  url: string;
  agents: number;
  slots: number;
}
type ToWorker = { type: 'measure'; on: boolean } | { type: 'stop' };
type FromWorker = { type: 'ready' } | { type: 'acked'; n: number } | { type: 'latencies'; jobs: number[]; at: number[] };

// ── the simulated agents (worker thread) ────────────────────────────────────────────────
async function runAgents(init: AgentsInit): Promise<void> {
  let measuring = false;
  let acked = 0;
  let pendingJobs: number[] = [];
  let pendingAt: number[] = [];
  const sockets: WebSocket[] = [];
  const start = async (i: number): Promise<void> => {
    const name = `sim-${i}`;
    const ws = new WebSocket(init.url.replace('http', 'ws') + '/agent', { perMessageDeflate: false });
    sockets.push(ws);
    await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)));
    await new Promise<void>((welcomed) => {
      ws.on('message', (raw) => {
        const m = JSON.parse(raw.toString()) as DispatcherMessage;
        if (m.type === 'assign') {
          if (measuring) {
            pendingJobs.push(m.jobId);
            pendingAt.push(wall());
          }
          const now = Date.now();
          ws.send(
            JSON.stringify({
              type: 'result',
              result: { attemptId: m.attemptId, jobId: m.jobId, outcome: 'succeeded', exitCode: 0, startedAt: now, durationMs: 0 },
            }),
          );
          ws.send(JSON.stringify({ type: 'pull', slots: 1 }));
        } else if (m.type === 'result-ack') {
          acked++;
        } else if (m.type === 'welcome') {
          ws.send(JSON.stringify({ type: 'pull', slots: init.slots }));
          welcomed();
        }
      });
      ws.send(
        JSON.stringify({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          token: deriveNodeToken(SECRET, name),
          node: { name, cpus: init.slots, memoryMb: 1024, arch: 'arm64', platform: 'linux', agentVersion: 'sim', bootId: `boot-${i}` },
          running: [],
        }),
      );
    });
  };
  await Promise.all(Array.from({ length: init.agents }, (_, i) => start(i)));
  const port = parentPort!;
  port.postMessage({ type: 'ready' } satisfies FromWorker);
  const flush = setInterval(() => {
    if (acked) port.postMessage({ type: 'acked', n: acked } satisfies FromWorker);
    acked = 0;
    if (pendingJobs.length) port.postMessage({ type: 'latencies', jobs: pendingJobs, at: pendingAt } satisfies FromWorker);
    pendingJobs = [];
    pendingAt = [];
  }, 20);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'measure') measuring = m.on;
    if (m.type === 'stop') {
      clearInterval(flush);
      for (const s of sockets) s.close();
      port.close();
    }
  });
}

// ── the dispatcher (main thread) ────────────────────────────────────────────────────────
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '100' },
      jobs: { type: 'string', default: '20000' },
      'latency-jobs': { type: 'string', default: '5000' },
      store: { type: 'string', default: 'sqlite' },
      slots: { type: 'string', default: '4' },
      synchronous: { type: 'string', default: 'full' },
    },
  });
  const modes = values.synchronous.split(',');
  if (modes.some((m) => m !== 'full' && m !== 'normal')) throw new Error('--synchronous takes full, normal or a list of them (full,normal)');
  if (modes.length > 1) return sideBySide(modes);
  const synchronous = modes[0] as 'full' | 'normal';
  const AGENTS = Number(values.agents);
  const JOBS = Number(values.jobs);
  const LAT_JOBS = Number(values['latency-jobs']);
  const SLOTS = Number(values.slots);
  const { Dispatcher } = await import('../dispatcher/dispatcher.ts');
  const { buildApp } = await import('../dispatcher/http/app.ts');
  const { createMetrics } = await import('../dispatcher/metrics.ts');
  const { createStore } = await import('../dispatcher/store/factory.ts');

  const clock: Clock = { now: wall };
  const dir = mkdtempSync(join(tmpdir(), 'picluster-bench-'));
  const store = createStore(values.store === 'memory' ? { kind: 'memory' } : { kind: 'sqlite', path: join(dir, 'bench.db'), synchronous });
  const dispatcher = new Dispatcher({
    store,
    clock,
    log: silentLogger(),
    clusterSecret: SECRET,
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 2000,
      missedHeartbeats: 3,
      restartGraceMs: 1000,
      defaultRetries: 0,
      retryBackoffMs: 0,
      retryBackoffMaxMs: 0,
      outputLimitBytes: 65536,
    },
  });
  dispatcher.start();
  const app = await buildApp({
    dispatcher,
    registry: createMetrics(dispatcher, new Registry(), { processMetrics: false }),
    log: silentLogger(),
    auth: { adminToken: ADMIN },
    version: 'bench',
    storeKind: store.kind,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
    workerData: { entry: import.meta.url, url, agents: AGENTS, slots: SLOTS } satisfies AgentsInit & { entry: string },
  });
  const submittedAt = new Map<number, number>();
  const latencies: number[] = [];
  let done = 0;
  let target = 0;
  let onDone: (() => void) | undefined;
  const ready = new Promise<void>((res) =>
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') res();
      else if (m.type === 'acked') {
        done += m.n;
        if (done >= target) onDone?.();
      } else if (m.type === 'latencies') {
        m.jobs.forEach((id, i) => {
          const t = submittedAt.get(id);
          if (t !== undefined) latencies.push(m.at[i]! - t);
        });
      }
    }),
  );
  await ready;

  const post = async (jobs: unknown[]): Promise<{ id: number }[]> => {
    const r = await fetch(`${url}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(jobs),
    });
    if (r.status !== 201) throw new Error(`submit failed: ${r.status} ${await r.text()}`);
    return (await r.json()) as { id: number }[];
  };
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
  const job = { argv: ['true'] };

  // Phase 1: throughput.
  target = JOBS;
  const allDone = new Promise<void>((res) => (onDone = res));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let sent = 0; sent < JOBS; sent += 1000) await post(Array.from({ length: Math.min(1000, JOBS - sent) }, () => job));
  const tSubmitted = performance.now();
  await allDone;
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);

  // Phase 2: latency at a pace below capacity (batches of 20 every 5 ms ≈ 4,000 jobs/s offered).
  worker.postMessage({ type: 'measure', on: true } satisfies ToWorker);
  done = 0;
  target = LAT_JOBS;
  const latDone = new Promise<void>((res) => (onDone = res));
  for (let sent = 0; sent < LAT_JOBS; sent += 20) {
    const before = wall();
    const created = await post(Array.from({ length: Math.min(20, LAT_JOBS - sent) }, () => job));
    for (const c of created) submittedAt.set(c.id, before);
    await new Promise((r) => setTimeout(r, 5));
  }
  await latDone;
  await new Promise((r) => setTimeout(r, 100)); // last latency batch from the worker

  const mem = process.memoryUsage();
  console.log(
    JSON.stringify(
      {
        store: store.kind,
        ...(store.kind === 'sqlite' ? { synchronous } : {}),
        agents: AGENTS,
        slotsPerAgent: SLOTS,
        throughput: {
          jobs: JOBS,
          seconds: +((t1 - t0) / 1000).toFixed(2),
          submitSeconds: +((tSubmitted - t0) / 1000).toFixed(2),
          jobsPerSecond: Math.round(JOBS / ((t1 - t0) / 1000)),
          dispatcherCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (t1 - t0)) * 100),
        },
        dispatchLatencyMs: {
          jobs: latencies.length,
          p50: +pct(latencies, 50).toFixed(2),
          p99: +pct(latencies, 99).toFixed(2),
          max: +Math.max(...latencies).toFixed(2),
        },
        rssMb: Math.round(mem.rss / 1048576),
        counts: dispatcher.jobCounts(),
      },
      null,
      2,
    ),
  );
  worker.postMessage({ type: 'stop' } satisfies ToWorker);
  await app.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

/** One run per durability mode, each a child process with the same flags; a table, then every run's JSON. */
async function sideBySide(modes: string[]): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const rest = process.argv.slice(2).filter((a, i, all) => a !== '--synchronous' && all[i - 1] !== '--synchronous' && !a.startsWith('--synchronous='));
  const runs = modes.map((m) => {
    const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1]!, ...rest, '--synchronous', m], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return JSON.parse(out.slice(out.indexOf('{'))) as { throughput: { jobsPerSecond: number }; dispatchLatencyMs: { p50: number; p99: number } };
  });
  console.log(
    [
      'synchronous  jobs/s  p50 ms  p99 ms',
      ...runs.map(
        (r, i) =>
          `${modes[i]!.padEnd(11)}  ${String(r.throughput.jobsPerSecond).padStart(6)}  ${String(r.dispatchLatencyMs.p50).padStart(6)}  ${String(r.dispatchLatencyMs.p99).padStart(6)}`,
      ),
    ].join('\n'),
  );
  console.log(JSON.stringify(Object.fromEntries(runs.map((r, i) => [modes[i]!, r])), null, 2));
}

if (isMainThread) await main();
else await runAgents(workerData as AgentsInit);
