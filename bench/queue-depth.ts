/**
 * Queue depth benchmark (issue 13 item 2): what one hand-out costs with 1k / 100k / 1M jobs
 * queued, across 1–1,000 groups, with and without mixed requirements, and what start-up costs
 * with that many jobs queued.
 *
 *  1. scheduler: the domain's JobQueue (dispatcher/domain/job-queue.ts) with the round-robin
 *     strategy, as the pump calls it: 100 nodes with a free slot each per round (10 of them
 *     labelled gpu=yes), µs per hand-out over `--handouts` hand-outs, and the cost of
 *     `depthByGroup()` (the overview and /metrics read it). "mixed": 10 % of jobs at a higher
 *     priority, 20 % need gpu=yes, 5 % need arch x64, which no node has (they stay queued, the
 *     worst case for skipping).
 *  2. dispatcher: the real Dispatcher on SQLite with the jobs inserted beforehand: start-up time
 *     and memory (the queue is rebuilt from the store), then hand-outs through agentHello/pull/
 *     result frames and the pump (one transaction per pump), µs per hand-out.
 *
 *   npm run bench:queue-depth -- [--depths 1000,100000,1000000] [--groups 1,10,100,1000] [--handouts 20000] [--dispatcher-depths 1000,100000] [--json F] [--svg F]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Requirements } from '../common/protocol.ts';
import { silentLogger } from '../common/logger.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { JobQueue, type QueuedJob } from '../dispatcher/domain/job-queue.ts';
import { RoundRobinStrategy, type Candidate } from '../dispatcher/domain/strategies.ts';
import type { NewJob } from '../dispatcher/domain/jobs.ts';
import { Dispatcher } from '../dispatcher/dispatcher.ts';
import type { AgentLink } from '../dispatcher/node-runtime.ts';
import { createStore } from '../dispatcher/store/factory.ts';
import { asyncStore } from '../dispatcher/store/async-adapter.ts';
import type { DispatcherMessage } from '../common/protocol.ts';
import { lineChartSvg } from './plot.ts';

type Mix = 'plain' | 'mixed';
const GPU: Requirements = { labels: { gpu: 'yes' } };
const X64: Requirements = { arch: 'x64' };
const r2 = (x: number) => Math.round(x * 100) / 100;
const mb = (b: number) => Math.round(b / 1048576);

function shape(i: number, groups: number, mix: Mix): { priority: number; group: string; requirements: Requirements } {
  const group = `g${i % groups}`;
  if (mix === 'plain') return { priority: 0, group, requirements: {} };
  const k = (i * 2654435761) % 100; // spread the kinds evenly, not in runs
  return { priority: i % 10 === 0 ? 5 : 0, group, requirements: k < 20 ? GPU : k < 25 ? X64 : {} };
}

function candidates(): Candidate[] {
  return Array.from({ length: 100 }, (_, i) => ({
    name: `n${i}`,
    labels: (i < 10 ? { gpu: 'yes' } : {}) as Record<string, string>,
    cpus: 4,
    memoryMb: 4096,
    arch: 'arm64',
    free: 1,
    running: 0,
    slots: 4,
    lastAssignedAt: 0,
    derate: 1,
  }));
}

export interface SchedulerRow {
  depth: number;
  groups: number;
  mix: Mix;
  buildMsPerMillion: number;
  usPerHandout: number;
  p99RoundUs: number;
  depthByGroupUs: number;
}

function schedulerCase(depth: number, groups: number, mix: Mix, handouts: number): SchedulerRow {
  const q = new JobQueue<QueuedJob>();
  const t0 = performance.now();
  for (let i = 1; i <= depth; i++) q.enqueue({ id: i, availableAt: 0, ...shape(i, groups, mix) }, 0);
  const buildMs = performance.now() - t0;
  const strategy = new RoundRobinStrategy();
  let done = 0;
  const rounds: number[] = [];
  let total = 0;
  while (done < handouts) {
    const c = candidates();
    const s = performance.now();
    const n = q.schedule(c, strategy, 0).length;
    const dt = performance.now() - s;
    if (n === 0) break;
    rounds.push((dt * 1000) / n);
    total += dt;
    done += n;
  }
  const d0 = performance.now();
  for (let i = 0; i < 20; i++) q.depthByGroup();
  const depthByGroupUs = ((performance.now() - d0) * 1000) / 20;
  rounds.sort((a, b) => a - b);
  return {
    depth,
    groups,
    mix,
    buildMsPerMillion: Math.round((buildMs / depth) * 1e6),
    usPerHandout: r2((total * 1000) / Math.max(1, done)),
    p99RoundUs: r2(rounds[Math.floor(rounds.length * 0.99)] ?? NaN),
    depthByGroupUs: r2(depthByGroupUs),
  };
}

class CountingLink implements AgentLink {
  assigns: { attemptId: number; jobId: number }[] = [];
  send(m: DispatcherMessage): void {
    if (m.type === 'assign') this.assigns.push({ attemptId: m.attemptId, jobId: m.jobId });
  }
  close(): void {}
}

export interface DispatcherRow {
  depth: number;
  insertS: number;
  startS: number;
  startHeapMb: number;
  startRssMb: number;
  usPerHandout: number;
}

async function dispatcherCase(depth: number, handouts: number): Promise<DispatcherRow> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-qdepth-'));
  const secret = 'queue-depth-bench-secret-0123456789';
  const path = join(dir, 'q.db');
  try {
    const store = createStore({ kind: 'sqlite', path });
    const t0 = performance.now();
    for (let i = 0; i < depth; i += 10_000) {
      const batch: NewJob[] = [];
      for (let k = i; k < Math.min(depth, i + 10_000); k++) batch.push({ spec: { kind: 'exec', argv: ['true'] }, retries: 0, ...shape(k + 1, 100, 'mixed') });
      store.insertJobs(batch, 0);
    }
    const insertS = (performance.now() - t0) / 1000;
    store.close();

    global.gc?.();
    const heap0 = process.memoryUsage();
    const s0 = performance.now();
    const store2 = createStore({ kind: 'sqlite', path });
    let now = Date.now();
    const d = new Dispatcher({
      store: asyncStore(store2),
      clock: { now: () => now },
      log: silentLogger(),
      clusterSecret: secret,
      scheduler: {
        strategy: 'round-robin',
        heartbeatMs: 1000,
        missedHeartbeats: 1000,
        restartGraceMs: 0,
        defaultRetries: 0,
        retryBackoffMs: 0,
        retryBackoffMaxMs: 0,
        outputLimitBytes: 1024,
      },
      defer: () => {},
    });
    await d.start();
    const startS = (performance.now() - s0) / 1000;
    global.gc?.();
    const heap1 = process.memoryUsage();

    const links = Array.from({ length: 100 }, (_, i) => {
      const name = `n${i}`;
      const link = new CountingLink();
      const ok = d.agentHello(
        {
          type: 'hello',
          protocol: 1,
          token: deriveNodeToken(secret, name),
          node: { name, cpus: 1, memoryMb: 4096, arch: 'arm64', platform: 'linux', agentVersion: 'bench', bootId: `b${i}` },
          running: [],
        },
        link,
      );
      if (!ok.ok) throw new Error(`hello refused: ${ok.message}`);
      d.agentMessage(name, link, { type: 'pull', slots: 1 });
      return { name, link };
    });
    for (const [i, l] of links.entries()) if (i < 10) d.patchNode(l.name, { labels: { gpu: 'yes' } });
    let done = 0;
    const h0 = performance.now();
    for (let round = 0; done < handouts && round < handouts; round++) {
      now += 1;
      await d.pump();
      let n = 0;
      for (const { name, link } of links) {
        for (const a of link.assigns) {
          n++;
          d.agentMessage(name, link, {
            type: 'result',
            result: { attemptId: a.attemptId, jobId: a.jobId, outcome: 'succeeded', exitCode: 0, startedAt: now, durationMs: 0 },
          });
          d.agentMessage(name, link, { type: 'pull', slots: 1 });
        }
        link.assigns = [];
      }
      if (n === 0) break;
      done += n;
    }
    await d.pump();
    const usPerHandout = ((performance.now() - h0) * 1000) / Math.max(1, done);
    store2.close();
    return {
      depth,
      insertS: r2(insertS),
      startS: r2(startS),
      startHeapMb: mb(heap1.heapUsed - heap0.heapUsed),
      startRssMb: mb(heap1.rss - heap0.rss),
      usPerHandout: r2(usPerHandout),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      depths: { type: 'string', default: '1000,100000,1000000' },
      groups: { type: 'string', default: '1,10,100,1000' },
      handouts: { type: 'string', default: '20000' },
      'dispatcher-handouts': { type: 'string', default: '5000' },
      // the real Dispatcher's cases (insert, start-up, hand-outs); default: every --depths
      'dispatcher-depths': { type: 'string' },
      json: { type: 'string' },
      svg: { type: 'string' },
    },
  });
  const depths = values.depths.split(',').map(Number);
  const groups = values.groups.split(',').map(Number);
  const handouts = Number(values.handouts);
  const load0 = loadavg()[0]!;
  const scheduler: SchedulerRow[] = [];
  for (const mix of ['plain', 'mixed'] as const)
    for (const g of groups)
      for (const depth of depths) {
        const row = schedulerCase(depth, g, mix, handouts);
        scheduler.push(row);
        console.log(
          `scheduler ${mix} groups=${g} depth=${depth}: ${row.usPerHandout} µs/hand-out (p99 round ${row.p99RoundUs}), depthByGroup ${row.depthByGroupUs} µs`,
        );
      }
  const dispatcher: DispatcherRow[] = [];
  for (const depth of (values['dispatcher-depths'] ?? values.depths).split(',').map(Number)) {
    const row = await dispatcherCase(depth, Number(values['dispatcher-handouts']));
    dispatcher.push(row);
    console.log(
      `dispatcher depth=${depth}: start ${row.startS} s (+${row.startHeapMb} MB heap, +${row.startRssMb} MB RSS), ${row.usPerHandout} µs/hand-out (insert ${row.insertS} s)`,
    );
  }
  const result = { at: new Date().toISOString(), loadAverage: [r2(load0), r2(loadavg()[0]!)], scheduler, dispatcher };
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
  if (values.svg) {
    const series = [];
    for (const mix of ['plain', 'mixed'] as const)
      for (const g of groups)
        series.push({
          name: `${mix}, ${g} group${g > 1 ? 's' : ''}`,
          points: scheduler.filter((r) => r.mix === mix && r.groups === g).map((r) => [Math.log10(r.depth), r.usPerHandout] as const),
        });
    series.push({ name: 'dispatcher + SQLite (mixed, 100 groups)', points: dispatcher.map((r) => [Math.log10(r.depth), r.usPerHandout] as const) });
    writeFileSync(values.svg, lineChartSvg({ title: 'Cost of one hand-out vs queue depth', xLabel: 'log10(queued jobs)', yLabel: 'µs per hand-out', series }));
    writeFileSync(
      values.svg.replace(/\.svg$/, '-startup.svg'),
      lineChartSvg({
        title: 'Start-up with queued jobs (SQLite, queue rebuilt)',
        xLabel: 'log10(queued jobs)',
        yLabel: 's / 100 MB',
        series: [
          { name: 'start-up s', points: dispatcher.map((r) => [Math.log10(r.depth), r.startS] as const) },
          { name: 'heap after start (100 MB)', points: dispatcher.map((r) => [Math.log10(r.depth), r.startHeapMb / 100] as const) },
        ],
      }),
    );
  }
}

await main();
