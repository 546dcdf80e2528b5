/**
 * Scale benchmark (issue 13 item 3): one real master (`picluster master` in its own process:
 * SQLite, fastify, ws gateways, UI, metrics) and N virtual agents (simulate/, in a worker thread
 * of this process) at 1 s heartbeats. For each size, three phases of `--phase-s` seconds:
 *
 *  1. heartbeats only: master CPU (from /proc, all threads) and RSS, heartbeats/s the master
 *     counted (does it keep up?), store writes/s (`picluster_store_writes_total`);
 *  2. + 5 browsers on `/ui`: snapshot size and time to it, bytes/s each browser receives, and
 *     the CPU the fan-out adds;
 *  3. + jobs: `sleep` jobs of `--job-s` submitted over REST at `--job-rate` per second (default
 *     N/10), dispatch latency = POST sent → `assign` received by the agent (p50/p99).
 *
 *   npm run bench:scale -- [--nodes 1000,5000,10000] [--phase-s 15] [--job-s 2] [--json F] [--svg F] [--profile DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import type { AgentsInit, FromAgents } from './scale-agents.ts';
import { lineChartSvg } from './plot.ts';
import { cpuSeconds, metricSum, percentile, rssBytes, storeWrites } from './scale-probe.ts';

const SECRET = 'bench-scale-secret-0123456789abcdef';
const ADMIN = 'bench-scale-admin-0123456789abcdef';
const REPO = new URL('../', import.meta.url).pathname;
const wall = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
const r1 = (x: number) => Math.round(x * 10) / 10;

interface Phase {
  cpuPercent: number;
  rssMb: number;
  heartbeatsPerS: number;
  storeWritesPerS: number;
  storeWritesByOp: Record<string, number>;
}
export interface ScaleRow {
  nodes: number;
  connectS: number;
  idleRssMb: number;
  heartbeats: Phase;
  browsers: Phase & { snapshotBytes: number; snapshotMs: number; bytesPerSPerBrowser: number; framesPerSPerBrowser: number; fanoutCpuPercent: number };
  jobs: Phase & { offeredPerS: number; dispatched: number; p50Ms: number; p99Ms: number; maxMs: number };
  rssPerNodeKb: number;
  lostOrClosed: number;
  reconnects: number;
}

async function startMaster(dir: string, profileDir: string | undefined): Promise<{ child: ChildProcess; url: string }> {
  const config = join(dir, 'picluster.yaml');
  writeFileSync(
    config,
    [
      `dataDir: ${join(dir, 'data')}`,
      'http: { host: 127.0.0.1, port: 0 }',
      `auth: { adminToken: ${ADMIN} }`,
      `cluster: { secret: ${SECRET} }`,
      'scheduler: { heartbeatMs: 1000, defaultRetries: 0 }',
      `inventory: { path: ${join(dir, 'none.yaml')} }`,
      'log: { level: warn, format: json }',
      '',
    ].join('\n'),
  );
  const child = spawn(
    process.execPath,
    [...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), join(REPO, 'bin/picluster.js'), 'master', '--config', config],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /picluster master is up: (http:\/\/[^/\s]+)\//.exec(err);
      if (m) resolve(m[1]!);
      if (err.length > 1e6) err = err.slice(-1e5);
    });
    child.once('exit', (code) => reject(new Error(`master exited ${code}: ${err.slice(-2000)}`)));
  });
  return { child, url };
}

async function measure(pid: number, url: string, seconds: number): Promise<Phase> {
  const metrics = async () => (await fetch(`${url}/metrics`)).text();
  const m0 = await metrics();
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  let rssMax = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(500);
    rssMax = Math.max(rssMax, rssBytes(pid));
  }
  const c1 = cpuSeconds(pid);
  const m1 = await metrics();
  const dt = (performance.now() - t0) / 1000;
  const w0 = storeWrites(m0);
  const w1 = storeWrites(m1);
  const byOp: Record<string, number> = {};
  for (const [op, n] of Object.entries(w1)) {
    const rate = (n - (w0[op] ?? 0)) / dt;
    if (rate > 0) byOp[op] = r1(rate);
  }
  const total = Object.entries(byOp).reduce((s, [op, r]) => (op === 'transaction' ? s : s + r), 0);
  return {
    cpuPercent: r1(((c1 - c0) / dt) * 100),
    rssMb: mb(rssMax),
    heartbeatsPerS: Math.round((metricSum(m1, 'picluster_heartbeats_total') - metricSum(m0, 'picluster_heartbeats_total')) / dt),
    storeWritesPerS: r1(total),
    storeWritesByOp: byOp,
  };
}

async function runSize(nodes: number, o: { phaseS: number; jobS: number; jobRate: number; browsers: number; profile?: string }): Promise<ScaleRow> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-scale-'));
  const { child, url } = await startMaster(dir, o.profile);
  const pid = child.pid!;
  const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
    workerData: {
      entry: new URL('./scale-agents.ts', import.meta.url).href,
      url,
      secret: SECRET,
      nodes,
      jobMs: o.jobS * 1000,
      concurrency: 128,
    } satisfies AgentsInit & {
      entry: string;
    },
  });
  const submitted = new Map<number, number>();
  const latencies: number[] = [];
  let closed = 0;
  let reconnects = 0;
  try {
    await sleep(1000);
    const idleRss = rssBytes(pid);
    const connectS = await new Promise<number>((resolve, reject) => {
      worker.on('message', (m: FromAgents) => {
        if (m.type === 'ready') resolve(m.connectS);
        else if (m.type === 'failed') reject(new Error(m.message));
        else if (m.type === 'stats') {
          closed = m.stats.closed + m.stats.refused;
          reconnects = m.stats.reconnects;
        } else if (m.type === 'assigns')
          m.jobs.forEach((id, i) => {
            const t = submitted.get(id);
            if (t !== undefined) latencies.push(m.at[i]! - t);
          });
      });
      worker.once('error', reject);
    });
    process.stderr.write(`  ${nodes} nodes connected in ${connectS.toFixed(1)} s\n`);
    await sleep(3000); // first heartbeats of every node, then steady state
    const heartbeats = await measure(pid, url, o.phaseS);
    process.stderr.write(`  heartbeats: ${JSON.stringify(heartbeats)}\n`);

    // 5 browsers.
    let bytes = 0;
    let frames = 0;
    let snapshotBytes = 0;
    const tSnap = performance.now();
    let snapshotMs = 0;
    const uis = await Promise.all(
      Array.from(
        { length: o.browsers },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(`${url.replace('http', 'ws')}/ui?token=${ADMIN}`, { perMessageDeflate: false });
            let first = true;
            ws.on('message', (raw: Buffer) => {
              if (first) {
                first = false;
                snapshotBytes = Math.max(snapshotBytes, raw.length);
                snapshotMs = Math.max(snapshotMs, performance.now() - tSnap);
                resolve(ws);
                return;
              }
              bytes += raw.length;
              frames++;
            });
            ws.once('error', reject);
          }),
      ),
    );
    await sleep(1000);
    bytes = 0;
    frames = 0;
    const b = await measure(pid, url, o.phaseS);
    const browsers = {
      ...b,
      snapshotBytes,
      snapshotMs: Math.round(snapshotMs),
      bytesPerSPerBrowser: Math.round(bytes / o.browsers / o.phaseS),
      framesPerSPerBrowser: r1(frames / o.browsers / o.phaseS),
      fanoutCpuPercent: r1(b.cpuPercent - heartbeats.cpuPercent),
    };
    process.stderr.write(`  browsers: ${JSON.stringify(browsers)}\n`);

    // Jobs at a pace below capacity, browsers still watching.
    let stopJobs = false;
    const perTick = Math.max(1, Math.round(o.jobRate / 10));
    const submitter = (async () => {
      while (!stopJobs) {
        const t = performance.now();
        const before = wall();
        const r = await fetch(`${url}/api/jobs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify(Array.from({ length: perTick }, () => ({ argv: ['sleep', String(o.jobS)] }))),
        });
        if (r.status !== 201) throw new Error(`submit: ${r.status} ${await r.text()}`);
        for (const j of (await r.json()) as { id: number }[]) submitted.set(j.id, before);
        await sleep(Math.max(0, 100 - (performance.now() - t)));
      }
    })();
    await sleep(Math.min(3000, o.jobS * 1000 + 1000)); // running jobs reach steady state
    latencies.length = 0;
    const j = await measure(pid, url, o.phaseS);
    stopJobs = true;
    await submitter;
    await sleep(300);
    const jobs = {
      ...j,
      offeredPerS: perTick * 10,
      dispatched: latencies.length,
      p50Ms: r1(percentile(latencies, 50)),
      p99Ms: r1(percentile(latencies, 99)),
      maxMs: r1(Math.max(...latencies)),
    };
    process.stderr.write(`  jobs: ${JSON.stringify(jobs)}\n`);
    for (const ui of uis) ui.close();
    return {
      nodes,
      connectS: r1(connectS),
      idleRssMb: mb(idleRss),
      heartbeats,
      browsers,
      jobs,
      rssPerNodeKb: Math.round(((heartbeats.rssMb - mb(idleRss)) * 1024) / nodes),
      lostOrClosed: closed,
      reconnects,
    };
  } finally {
    worker.postMessage({ type: 'stop' });
    await sleep(500);
    await worker.terminate();
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '1000,5000,10000' },
      'phase-s': { type: 'string', default: '15' },
      'job-s': { type: 'string', default: '2' },
      'job-rate': { type: 'string' },
      browsers: { type: 'string', default: '5' },
      json: { type: 'string' },
      svg: { type: 'string' },
      /** Write the master's CPU profile (node --cpu-prof) into this directory. */
      profile: { type: 'string' },
    },
  });
  const sizes = values.nodes.split(',').map(Number);
  const rows: ScaleRow[] = [];
  const load0 = loadavg()[0]!;
  for (const n of sizes) {
    process.stderr.write(`bench:scale ${n} nodes\n`);
    rows.push(
      await runSize(n, {
        phaseS: Number(values['phase-s']),
        jobS: Number(values['job-s']),
        jobRate: values['job-rate'] ? Number(values['job-rate']) : Math.max(10, Math.round(n / 10)),
        browsers: Number(values.browsers),
        ...(values.profile ? { profile: values.profile } : {}),
      }),
    );
  }
  const load1 = loadavg()[0]!;
  console.log(
    'nodes | connect s | CPU % hb / +5 UI / +jobs | RSS MB | KiB/node | hb/s | store writes/s hb / jobs | snapshot KB | UI KB/s each | dispatch p50/p99 ms',
  );
  for (const r of rows) {
    console.log(
      [
        r.nodes,
        r.connectS,
        `${r.heartbeats.cpuPercent} / ${r.browsers.cpuPercent} / ${r.jobs.cpuPercent}`,
        r.jobs.rssMb,
        r.rssPerNodeKb,
        r.heartbeats.heartbeatsPerS,
        `${r.heartbeats.storeWritesPerS} / ${r.jobs.storeWritesPerS}`,
        Math.round(r.browsers.snapshotBytes / 1024),
        Math.round(r.browsers.bytesPerSPerBrowser / 1024),
        `${r.jobs.p50Ms} / ${r.jobs.p99Ms}`,
      ].join(' | '),
    );
  }
  const result = { at: new Date().toISOString(), loadAverage: [r1(load0), r1(load1)], rows };
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
  if (values.svg) {
    const xs = (f: (r: ScaleRow) => number) => rows.map((r) => [r.nodes, f(r)] as const);
    writeFileSync(
      values.svg,
      lineChartSvg({
        title: 'Master CPU vs virtual nodes (1 s heartbeats)',
        xLabel: 'nodes',
        yLabel: 'CPU % of one core',
        series: [
          { name: 'heartbeats', points: xs((r) => r.heartbeats.cpuPercent) },
          { name: '+ 5 browsers', points: xs((r) => r.browsers.cpuPercent) },
          { name: '+ jobs', points: xs((r) => r.jobs.cpuPercent) },
        ],
      }),
    );
    writeFileSync(
      values.svg.replace(/\.svg$/, '-rss.svg'),
      lineChartSvg({
        title: 'Master RSS vs virtual nodes',
        xLabel: 'nodes',
        yLabel: 'RSS MB',
        series: [
          { name: 'heartbeats', points: xs((r) => r.heartbeats.rssMb) },
          { name: '+ 5 browsers + jobs', points: xs((r) => r.jobs.rssMb) },
        ],
      }),
    );
  }
  process.exit(0);
}

await main();
