/**
 * Chaos at scale (issue 15 item 5), shared by `npm run chaos` (bench/chaos.ts) and its small
 * configuration in `npm test` (test/e2e/chaos-scale.test.ts). One real `picluster master`
 * (SQLite, its data dir on a tmpfs) in one network namespace, N virtual agents on the real
 * protocol (bench/chaos-agents.ts) in another; the jobs are submitted, then: agent crashes,
 * freezes and reconnect storms from a seeded PRNG driving timers; master SIGKILLs, link cuts
 * (nftables drops) and disk-full episodes at counts of completed jobs. At the end the store
 * itself is checked: every job succeeded exactly once, no result accepted twice, stale results
 * counted. The master's RSS and the jobs done are sampled every second.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../simulate/fleet.ts';
import { waitFor, type Proc } from '../test/e2e/helpers/cluster-processes.ts';
import type { AgentsCommand } from './chaos-agents.ts';
import { ChaosEnv, rssBytes } from './chaos-env.ts';
import { planMilestones, type Milestone } from './chaos-plan.ts';

const AGENTS_SCRIPT = fileURLToPath(new URL('./chaos-agents.ts', import.meta.url));

export interface ChaosOptions {
  readonly agents: number;
  readonly jobs: number;
  readonly masterKills: number;
  readonly cuts: number;
  readonly diskFulls: number;
  readonly seed: number;
  /** Job lengths (ms), uniform in [min, max]: `sleep` jobs the virtual agents time. */
  readonly jobMs: readonly [number, number];
  /** Mean gap (ms) between agent chaos events (crash, freeze, storm). */
  readonly agentChaosMs: number;
  readonly tmpfsMb: number;
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
}

export interface Sample {
  readonly t: number;
  readonly rssMb: number | undefined;
  readonly done: number;
  /** Taken during a disk-full episode (the ballast in place). */
  readonly diskFull: boolean;
}

export interface ChaosResult {
  readonly options: Omit<ChaosOptions, 'log'>;
  readonly durationS: number;
  readonly counts: Record<string, number>;
  readonly store: {
    jobs: number;
    succeededOnce: number;
    lost: number;
    doubleAccepted: number;
    staleResults: number;
    nodeLostAttempts: number;
    attempts: number;
  };
  /** Over all samples; `maxOutsideDiskFull`: over those not taken during a disk-full episode. */
  readonly rssMb: { min: number; max: number; maxOutsideDiskFull: number; last: number };
  readonly samples: readonly Sample[];
  /** When each master kill, cut and disk-full episode began (s since start). */
  readonly events: readonly { t: number; kind: Milestone['kind']; atDone: number }[];
}

const HEARTBEAT_MS = 2000;
const MISSED = 3;
const MIN_FREE = 16 * 1024 * 1024;

type Status = Record<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>;

let active: (() => Promise<void>) | undefined;

/** Stops a run in progress (a signal): every process it started, by PID, and its namespaces and tmpfs. */
export async function abortChaos(): Promise<void> {
  await active?.();
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const random = mulberry32(o.seed);
  const env = new ChaosEnv(o.tmpfsMb);
  const token = randomBytes(24).toString('hex');
  const secret = randomBytes(24).toString('hex');
  const masterEnv = {
    PICLUSTER_ADMIN_TOKEN: token,
    PICLUSTER_CLUSTER_SECRET: secret,
    PICLUSTER_SCHEDULER__HEARTBEAT_MS: String(HEARTBEAT_MS),
    PICLUSTER_SCHEDULER__MISSED_HEARTBEATS: String(MISSED),
    PICLUSTER_SCHEDULER__RESTART_GRACE_MS: '10000',
    PICLUSTER_SCHEDULER__RETRY_BACKOFF_MS: '50',
    PICLUSTER_SCHEDULER__RETRY_BACKOFF_MAX_MS: '1000',
    PICLUSTER_SCHEDULER__DEFAULT_RETRIES: '50',
    // chaos loses nodes far more often than a real cluster: no job is declared poison for it
    PICLUSTER_RECOVERY__POISON_AFTER_NODE_LOSSES: '0',
    PICLUSTER_LIMITS__RATE_LIMIT_PER_SECOND: '100000',
    PICLUSTER_LIMITS__RATE_LIMIT_BURST: '1000000',
    PICLUSTER_LIMITS__MIN_FREE_DISK_BYTES: String(MIN_FREE),
    PICLUSTER_LIMITS__DISK_CHECK_MS: '200',
  };
  const counts: Record<string, number> = { masterKills: 0, agentCrashes: 0, agentFreezes: 0, storms: 0, stormDrops: 0, cuts: 0, diskFulls: 0, refused507: 0 };
  const samples: Sample[] = [];
  const events: { t: number; kind: Milestone['kind']; atDone: number }[] = [];
  let master: Proc | undefined;
  let agents: Proc | undefined;
  let done = 0;
  let diskFull = false;
  let stopping = false;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopping) fn();
    }, ms);
    timers.add(t);
  };
  const api = <T>(method: string, path: string, body?: unknown) => env.api<T>(token, method, path, body);
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const say = (s: string) => o.log(`[${elapsed().toFixed(1).padStart(6)} s] ${s}`);

  const startMaster = async (): Promise<void> => {
    master = env.startMaster(masterEnv);
    const m = master;
    await waitFor(
      'master /health',
      async () => {
        if (m.child.exitCode !== null) throw new Error(`master exited: ${m.output().slice(-2000)}`);
        return (await api('GET', '/health').catch(() => undefined))?.status === 200;
      },
      120_000,
      100,
    );
  };
  const status = async (): Promise<Status> => {
    const r = await api<Status>('GET', '/api/jobs/status');
    if (r.status !== 200) throw new Error(`status ${r.status}`);
    done = r.json.succeeded + r.json.failed + r.json.cancelled;
    return r.json;
  };
  const command = (c: AgentsCommand): void => void agents?.child.stdin?.write(`${JSON.stringify(c)}\n`);
  const pick = (n: number): number[] => Array.from({ length: n }, () => Math.floor(random() * o.agents));

  // Agent chaos: a seeded PRNG picks the next event and its gap.
  const agentChaos = (): void => {
    const r = random();
    if (r < 0.5) {
      const who = pick(1 + Math.floor(random() * Math.max(1, o.agents / 100)));
      command({ op: 'crash', agents: who });
      counts.agentCrashes! += who.length;
    } else if (r < 0.9) {
      const who = pick(1 + Math.floor(random() * Math.max(1, o.agents / 200)));
      command({ op: 'freeze', agents: who });
      counts.agentFreezes! += who.length;
      // frozen past the node-lost deadline, so its attempts are requeued and its late results are stale
      later(HEARTBEAT_MS * MISSED * (1.5 + random()), () => command({ op: 'thaw', agents: who }));
    } else {
      const who = pick(Math.ceil(o.agents * (0.2 + 0.3 * random())));
      command({ op: 'drop', agents: who });
      counts.storms!++;
      counts.stormDrops! += who.length;
    }
    later(o.agentChaosMs * (0.5 + random()), agentChaos);
  };

  const milestone = async (m: Milestone): Promise<void> => {
    events.push({ t: elapsed(), kind: m.kind, atDone: done });
    if (m.kind === 'kill') {
      const m0 = master!;
      m0.child.kill('SIGKILL');
      await m0.exited;
      counts.masterKills!++;
      say(`master SIGKILLed at ${done} done; restarting`);
      await startMaster();
    } else if (m.kind === 'cut') {
      env.cut();
      counts.cuts!++;
      const ms = HEARTBEAT_MS * MISSED * (1.5 + random());
      say(`link cut (nft drop) at ${done} done for ${(ms / 1000).toFixed(1)} s`);
      await new Promise<void>((r) => later(ms, r));
      env.heal();
    } else {
      counts.diskFulls!++;
      diskFull = true;
      env.fill(MIN_FREE / 2);
      say(`disk nearly full at ${done} done (${env.freeBytes()} B free)`);
      const alertOpen = async () => (await api<{ alerts: { kind: string }[] }>('GET', '/api/alerts?open=true')).json.alerts.some((a) => a.kind === 'disk-low');
      await waitFor('disk-low alert', alertOpen, 60_000, 100);
      const probe = await api('POST', '/api/jobs', { argv: ['sleep', '0'], name: 'disk-probe' });
      if (probe.status !== 507) throw new Error(`a submission on a full disk got ${probe.status}, not 507`);
      counts.refused507!++;
      env.fill(0);
      const ms = 2000 + 3000 * random();
      say(`disk completely full for ${(ms / 1000).toFixed(1)} s`);
      await new Promise<void>((r) => later(ms, r));
      env.unfill();
      await waitFor('disk-low resolved', async () => !(await alertOpen()), 60_000, 100);
      diskFull = false;
      say(`disk freed, alert resolved at ${done} done`);
    }
  };

  const cleanup = async (): Promise<void> => {
    stopping = true;
    for (const t of timers) clearTimeout(t);
    await agents?.kill().catch(() => {});
    await master?.kill().catch(() => {});
    await env.destroy();
  };
  active = cleanup;
  try {
    await env.create();
    await startMaster();
    say(`master up in netns ${env.link.serverNs}, data dir on a ${o.tmpfsMb} MB tmpfs; seed ${o.seed}`);

    const ids: number[] = [];
    for (let i = 0; i < o.jobs; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, o.jobs - i) }, (_, k) => {
        const ms = o.jobMs[0] + random() * (o.jobMs[1] - o.jobMs[0]);
        return { name: `chaos-${i + k}`, argv: ['sleep', (ms / 1000).toFixed(3)], group: `g${(i + k) % 16}` };
      });
      const r = await api<{ id: number }[]>('POST', '/api/jobs', batch);
      if (r.status !== 201) throw new Error(`submission → ${r.status}: ${JSON.stringify(r.json)}`);
      ids.push(...r.json.map((j) => j.id));
    }
    say(`${ids.length} jobs submitted`);

    // the agents connect held (pulling nothing) and are released together, so the chaos starts with the whole fleet
    agents = env.startInAgentsNs(AGENTS_SCRIPT, [env.masterUrl, secret, String(o.agents), String(o.seed)]);
    const a = agents;
    await waitFor(
      `${o.agents} agents welcomed`,
      () => {
        const out = a.output();
        if (out.includes('"failed"') || a.child.exitCode !== null) throw new Error(`agents: ${out.slice(-2000)}`);
        return out.includes('"ready":true');
      },
      600_000,
      200,
    );
    say(`${o.agents} agents welcomed`);
    const everyone = Array.from({ length: o.agents }, (_, i) => i);
    command({ op: 'release', agents: everyone });

    const sampler = setInterval(() => {
      samples.push({ t: elapsed(), rssMb: master ? (rssBytes(master.pid) ?? 0) / 2 ** 20 || undefined : undefined, done, diskFull });
      void status().catch(() => {});
    }, 1000);
    later(o.agentChaosMs * random(), agentChaos);
    try {
      const plan = planMilestones(o, random, (await status()).succeeded);
      for (const m of plan) {
        await waitFor(`${m.atDone} done`, async () => (await status()).succeeded >= m.atDone, o.timeoutMs, 200);
        await milestone(m);
      }
      stopping = true;
      // no more chaos: thaw everyone still frozen, let the queue drain
      command({ op: 'thaw', agents: everyone });
      await waitFor(
        'all jobs ended',
        async () => {
          const s = await status();
          return s.queued + s.running === 0;
        },
        o.timeoutMs,
        250,
      );
    } finally {
      clearInterval(sampler);
    }
    say(`all ${ids.length} jobs ended`);
    const overview = await api<{ staleResults: number }>('GET', '/api/cluster/overview');
    counts.staleResultsSinceLastStart = overview.json.staleResults;
    await agents.kill();
    await master!.kill();

    const db = new Database(join(env.dataDir, 'picluster.db'), { readonly: true });
    try {
      const perJob = db
        .prepare(
          "SELECT j.id, j.state, (SELECT COUNT(*) FROM attempts a WHERE a.job_id = j.id AND a.state = 'succeeded') AS ok FROM jobs j WHERE j.name LIKE 'chaos-%'",
        )
        .all() as { id: number; state: string; ok: number }[];
      const byId = new Map(perJob.map((j) => [j.id, j]));
      const lost = ids.filter((id) => byId.get(id)?.state !== 'succeeded' || byId.get(id)?.ok === 0).length;
      const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
      const rss = samples.map((s) => s.rssMb).filter((v): v is number => v !== undefined);
      const rssOutside = samples.filter((s) => !s.diskFull).map((s) => s.rssMb ?? 0);
      return {
        options: {
          agents: o.agents,
          jobs: o.jobs,
          masterKills: o.masterKills,
          cuts: o.cuts,
          diskFulls: o.diskFulls,
          seed: o.seed,
          jobMs: o.jobMs,
          agentChaosMs: o.agentChaosMs,
          tmpfsMb: o.tmpfsMb,
          timeoutMs: o.timeoutMs,
        },
        durationS: elapsed(),
        counts,
        store: {
          jobs: perJob.length,
          succeededOnce: perJob.filter((j) => j.state === 'succeeded' && j.ok === 1).length,
          lost,
          doubleAccepted: perJob.filter((j) => j.ok > 1).length,
          staleResults: n('SELECT COUNT(*) AS n FROM stale_results'),
          nodeLostAttempts: n("SELECT COUNT(*) AS n FROM attempts WHERE state = 'node-lost'"),
          attempts: n('SELECT COUNT(*) AS n FROM attempts'),
        },
        rssMb: { min: Math.min(...rss), max: Math.max(...rss), maxOutsideDiskFull: Math.max(...rssOutside), last: rss.at(-1) ?? 0 },
        samples,
        events,
      };
    } finally {
      db.close();
    }
  } finally {
    active = undefined;
    await cleanup();
  }
}
