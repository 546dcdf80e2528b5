/**
 * Dispatch benchmark (issue 13 item 1): the same workload — `--jobs` no-op jobs, `--agents`
 * consumers with `--slots` each — through picluster (the real Dispatcher + HTTP API + SQLite,
 * agents over real WebSockets: bench/dispatch-picluster.ts) and, with `--peer bullmq`, through
 * BullMQ 5 on a redis-server the bench starts itself (AOF everysec: bench/redis.ts,
 * bench/dispatch-bullmq.ts), in one process run, in alternating rounds (picluster first in even
 * rounds, BullMQ first in odd ones). What a round measures: bench/dispatch-harness.ts.
 *
 *   npm run bench:dispatch -- [--peer bullmq] [--rounds 3] [--agents 100 | --agents 10,50,100]
 *                             [--jobs 20000] [--latency-jobs 5000] [--slots 4] [--store sqlite|memory|postgres|sqlite,postgres]
 *                             [--synchronous full|normal|full,normal] [--json F] [--svg F]
 *
 * `--synchronous` is the SQLite durability mode (default full, the master's default). With a
 * list, each mode is a system of its own in every round (the first is "picluster", the ratio's
 * numerator; the others "picluster-<mode>"), so the modes are compared side by side in one run.
 * `--store` may be a list too: the first store is "picluster", each other one a system
 * "picluster-<store>" in every round. `postgres` runs on a PostgreSQL the bench starts itself
 * (Debian's initdb in a temp dir, loopback: dispatcher/store/testing/postgres.ts), a fresh
 * database per run.
 *
 * Prints per round, then per agent count the medians over rounds: jobs/s, p50/p99 dispatch and
 * submit → complete latency at half of capacity, and the ratio picluster / BullMQ (median of
 * the rounds' ratios; a round pairs the two systems' runs). `--svg` draws throughput vs agents.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { runRound, summarize, type RoundResult, type Sut } from './dispatch-harness.ts';
import { lineChartSvg } from './plot.ts';
import { startRedis, type RedisServer } from './redis.ts';

const { values } = parseArgs({
  options: {
    peer: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    agents: { type: 'string', default: '100' },
    jobs: { type: 'string', default: '20000' },
    'latency-jobs': { type: 'string', default: '5000' },
    slots: { type: 'string', default: '4' },
    store: { type: 'string', default: 'sqlite' },
    synchronous: { type: 'string', default: 'full' },
    'timeout-s': { type: 'string', default: '300' },
    json: { type: 'string' },
    svg: { type: 'string' },
  },
});
const int = (name: string, v: string, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
};
if (values.peer !== undefined && values.peer !== 'bullmq') throw new Error(`--peer must be bullmq, got ${JSON.stringify(values.peer)}`);
const STORES = values.store.split(',');
if (!STORES.every((s): s is 'sqlite' | 'memory' | 'postgres' => s === 'sqlite' || s === 'memory' || s === 'postgres'))
  throw new Error(`--store takes sqlite, memory, postgres or a list of them, got ${JSON.stringify(values.store)}`);
const store = values.store;
const MODES = values.synchronous.split(',');
if (!MODES.every((m): m is 'full' | 'normal' => m === 'full' || m === 'normal'))
  throw new Error(`--synchronous takes full, normal or a list of them (full,normal), got ${JSON.stringify(values.synchronous)}`);
const ROUNDS = int('rounds', values.rounds, 1);
const AGENTS = values.agents.split(',').map((a) => int('agents', a, 1));
const JOBS = int('jobs', values.jobs, 1);
const LAT_JOBS = int('latency-jobs', values['latency-jobs'], 10);
const SLOTS = int('slots', values.slots, 1);
const TIMEOUT_S = int('timeout-s', values['timeout-s'], 1);

const { startPicluster } = await import('./dispatch-picluster.ts');
const { startBullmq } = await import('./dispatch-bullmq.ts');
const redis: RedisServer | undefined = values.peer === 'bullmq' ? await startRedis() : undefined;
const { findPostgres, POSTGRES_MISSING, startPostgres } = await import('../dispatcher/store/testing/postgres.ts');
const pgBin = STORES.includes('postgres') ? findPostgres() : undefined;
if (STORES.includes('postgres') && !pgBin) throw new Error(POSTGRES_MISSING);
const postgres = pgBin ? await startPostgres(pgBin, { fsync: true }) : undefined; // durable commits, like a production server
const load0 = loadavg()[0]!;
const rounds: (RoundResult & { agents: number; round: number })[] = [];
const fmt = (r: RoundResult) =>
  `${r.system.padEnd(9)} ${String(r.jobsPerSecond).padStart(6)} jobs/s (${r.seconds} s, server CPU ${r.serverCpuPercent} %) | ` +
  `at ${r.offeredPerSecond}/s: dispatch p50 ${r.dispatchMs.p50} p99 ${r.dispatchMs.p99} ms, complete p50 ${r.completeMs.p50} p99 ${r.completeMs.p99} ms (${r.dispatchMs.jobs} jobs)`;
try {
  for (const agents of AGENTS) {
    for (let round = 0; round < ROUNDS; round++) {
      const url = async (s: string) => (s === 'postgres' ? { url: await postgres!.freshDatabase() } : {});
      const systems: (() => Promise<Sut>)[] = MODES.map(
        (synchronous, i) => async () =>
          startPicluster({
            agents,
            slots: SLOTS,
            store: STORES[0]!,
            ...(await url(STORES[0]!)),
            synchronous,
            name: i === 0 ? 'picluster' : `picluster-${synchronous}`,
          }),
      );
      for (const other of STORES.slice(1))
        systems.push(async () =>
          startPicluster({ agents, slots: SLOTS, store: other, ...(await url(other)), synchronous: MODES[0]!, name: `picluster-${other}` }),
        );
      if (redis) systems.push(() => startBullmq({ redis, consumers: agents, slots: SLOTS }));
      if (round % 2 === 1) systems.reverse();
      for (const start of systems) {
        const sut = await start();
        try {
          const r = await runRound(sut, { jobs: JOBS, latencyJobs: LAT_JOBS, timeoutS: TIMEOUT_S });
          rounds.push({ ...r, agents, round });
          process.stderr.write(`[${agents} agents, round ${round + 1}/${ROUNDS}, load ${loadavg()[0]!.toFixed(1)}] ${fmt(r)}\n`);
        } finally {
          await sut.close();
        }
      }
    }
  }
} finally {
  await redis?.stop();
  await postgres?.stop();
}

const summary = summarize(rounds, AGENTS);
const load1 = loadavg()[0]!;
console.log(
  `bench:dispatch: ${JOBS} no-op jobs, ${SLOTS} slots per agent, store ${store}, ${ROUNDS} round(s), load ${load0.toFixed(1)} → ${load1.toFixed(1)}${redis ? `, redis ${redis.version} AOF everysec` : ''}`,
);
console.log('agents | system    | jobs/s | server CPU % | offered/s | dispatch p50 / p99 ms | submit→complete p50 / p99 ms');
for (const s of summary) {
  for (const [name, v] of [
    ['picluster', s.picluster],
    ['bullmq', s.bullmq],
  ] as const) {
    if (!v) continue;
    console.log(
      `${String(s.agents).padStart(6)} | ${name.padEnd(9)} | ${String(v.jobsPerSecond).padStart(6)} | ${String(v.serverCpuPercent).padStart(12)} | ${String(v.offeredPerSecond).padStart(9)} | ${v.dispatchP50Ms} / ${v.dispatchP99Ms} | ${v.completeP50Ms} / ${v.completeP99Ms}`,
    );
  }
  if (s.ratio)
    console.log(
      `${String(s.agents).padStart(6)} agents: picluster / bullmq throughput ${s.ratio.median.toFixed(2)}x (rounds ${s.ratio.min.toFixed(2)}–${s.ratio.max.toFixed(2)}x)`,
    );
}
for (const other of STORES.slice(1)) {
  for (const agents of AGENTS) {
    const mine = rounds.filter((r) => r.agents === agents && r.system === `picluster-${other}`);
    const first = rounds.filter((r) => r.agents === agents && r.system === 'picluster');
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
    const cpu = (rs: RoundResult[]) => med(rs.map((r) => r.serverCpuPercent));
    console.log(
      `${String(agents).padStart(6)} agents: store ${STORES[0]} ${med(first.map((r) => r.jobsPerSecond))} jobs/s (server CPU ${cpu(first)} %) vs ${other} ${med(mine.map((r) => r.jobsPerSecond))} jobs/s (server CPU ${cpu(mine)} %) (lower median of the rounds)`,
    );
  }
}
for (const mode of MODES.slice(1)) {
  for (const agents of AGENTS) {
    const mine = rounds.filter((r) => r.agents === agents && r.system === `picluster-${mode}`).map((r) => r.jobsPerSecond);
    const first = rounds.filter((r) => r.agents === agents && r.system === 'picluster').map((r) => r.jobsPerSecond);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
    console.log(
      `${String(agents).padStart(6)} agents: synchronous ${MODES[0]} ${med(first)} jobs/s vs ${mode} ${med(mine)} jobs/s (lower median of the rounds)`,
    );
  }
}
const result = {
  synchronous: MODES,
  at: new Date().toISOString(),
  loadAverage: [+load0.toFixed(1), +load1.toFixed(1)],
  jobs: JOBS,
  slots: SLOTS,
  store,
  redis: redis?.version,
  summary,
  rounds,
};
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
if (values.svg) {
  const series = (['picluster', 'bullmq'] as const)
    .map((name) => ({ name, points: summary.flatMap((s) => (s[name] ? [[s.agents, s[name]!.jobsPerSecond] as const] : [])) }))
    .filter((s) => s.points.length);
  writeFileSync(
    values.svg,
    lineChartSvg({ title: `Dispatch throughput vs agents (${JOBS} no-op jobs, ${SLOTS} slots each)`, xLabel: 'agents', yLabel: 'jobs/s', series }),
  );
}
process.exit(0);
