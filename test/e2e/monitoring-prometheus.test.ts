/**
 * Monitoring against real processes: a master and two agents (the harness), plus one simulated
 * Pi over the real agent protocol (it reports get_throttled bits and a temperature, which no
 * test machine has). Then:
 * - `promtool check metrics` on a real /metrics scrape is clean;
 * - every metric name the alert rules and Grafana dashboards use is in that scrape;
 * - a real Prometheus (Debian `prometheus`, loopback, temp storage, 1 s scrape interval, file_sd
 *   targets written by the generator, the shipped rules) scrapes the master; its HTTP API has the
 *   node and job series, every rule evaluates without error, and the under-voltage alert is
 *   pending for the simulated Pi.
 * Skips, saying why, when prometheus/promtool are not installed (CI: .ci/packages.txt).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { stringify as toYaml } from 'yaml';
import { loadConfig } from '../../common/config.ts';
import { PROTOCOL_VERSION } from '../../common/protocol.ts';
import { deriveNodeToken } from '../../common/tokens.ts';
import { buildInventory } from '../../inventory/inventory.ts';
import { dashboardExprs, familyOf, metricNames, ruleExprs, scrapeFamilies } from '../../monitoring/metric-names.ts';
import { generateTargets, writeTargets } from '../../monitoring/targets.ts';
import { ClusterHarness, freePort, tempDir, waitFor } from './helpers/cluster-processes.ts';

const has = (bin: string) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0;
const ready = has('prometheus') && has('promtool');
const RULES = resolve(import.meta.dirname, '../../monitoring/rules/picluster.rules.yml');

const harness = new ClusterHarness({ PICLUSTER_SCHEDULER__HEARTBEAT_MS: '500', PICLUSTER_SCHEDULER__RETRY_BACKOFF_MS: '0' });
let simulatedPi: WebSocket | undefined;
let heartbeats: NodeJS.Timeout | undefined;
let prometheus: ChildProcess | undefined;
let promUrl = '';
let promDir: string | undefined;
let scrape = '';

/** A Pi 3B+ that is under-voltage and throttled now (0x50005) at 71.5 C; it never pulls work. */
async function startSimulatedPi(): Promise<void> {
  const name = 'pi-sim';
  const ws = new WebSocket(`ws://127.0.0.1:${harness.port}/agent`);
  simulatedPi = ws;
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  const welcomed = new Promise<void>((res) => ws.on('message', (d) => JSON.parse(String(d)).type === 'welcome' && res()));
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      token: deriveNodeToken(harness.secret(), name),
      node: {
        name,
        cpus: 4,
        memoryMb: 926,
        arch: 'arm64',
        platform: 'linux',
        agentVersion: 'sim',
        bootId: 'sim-boot-1',
        model: 'pi3b+',
        mac: 'b8:27:eb:00:00:99',
      },
      running: [],
    }),
  );
  await welcomed;
  const health = {
    temperatureC: 71.5,
    throttled: 0x50005,
    cpuPercent: 12.5,
    load1: 0.4,
    load5: 0.3,
    load15: 0.2,
    memTotalMb: 926,
    memAvailableMb: 700,
    netRxBytes: 123456,
    netTxBytes: 65432,
    uptimeS: 321,
    cpuFreqMhz: 600,
  };
  const beat = () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'heartbeat', health, running: [] }));
  beat();
  heartbeats = setInterval(beat, 250);
}

async function promQuery(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await r.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(JSON.stringify(body));
  return body.data.result;
}

beforeAll(async () => {
  if (!ready) return;
  await harness.startMaster();
  harness.startAgent('a1');
  harness.startAgent('a2');
  await harness.waitForNodes(['a1', 'a2']);
  await startSimulatedPi();
  await harness.waitForNodes(['pi-sim']);
  const jobs = await harness.api<{ id: number }[]>('POST', '/api/jobs', [
    { argv: ['true'], group: 'e2e' },
    { argv: ['true'], group: 'e2e' },
    { argv: ['sh', '-c', 'exit 3'], group: 'e2e', retries: 0 },
  ]);
  await waitFor('jobs finished', async () => {
    const states = await Promise.all(jobs.map((j) => harness.api<{ state: string }>('GET', `/api/jobs/${j.id}`).then((x) => x.state)));
    return states.every((s) => s === 'succeeded' || s === 'failed');
  });
  scrape = await (await fetch(`${harness.url}/metrics`)).text();

  // Prometheus beside it: file_sd targets from the generator, the shipped rules, 1 s intervals.
  const dir = tempDir('picluster-prometheus-');
  promDir = dir;
  const targets = writeTargets(join(dir, 'targets'), generateTargets(loadConfig(), buildInventory({ nodes: [] }), { master: `127.0.0.1:${harness.port}` }));
  mkdirSync(join(dir, 'data'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    toYaml({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [RULES],
      scrape_configs: [
        { job_name: 'picluster-master', file_sd_configs: [{ files: [targets.find((t) => t.endsWith('master.json'))!], refresh_interval: '1s' }] },
      ],
    }),
  );
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  let log = '';
  prometheus = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.on('data', (d) => (log += d));
  prometheus.stderr!.on('data', (d) => (log = (log + d).slice(-20_000)));
  await waitFor(
    'prometheus ready',
    async () => {
      if (prometheus!.exitCode !== null) throw new Error(`prometheus exited: ${log.slice(-3000)}`);
      return (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok;
    },
    30_000,
    100,
  );
}, 120_000);

afterAll(async () => {
  if (heartbeats) clearInterval(heartbeats);
  simulatedPi?.close();
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('exit', r));
    process.kill(prometheus.pid!, 'SIGTERM');
    await exited;
  }
  if (promDir) rmSync(promDir, { recursive: true, force: true });
  await harness.stop();
}, 60_000);

describe.skipIf(!ready)('monitoring with a real master, agents and Prometheus (skipped: prometheus/promtool not installed)', () => {
  it('promtool check metrics finds nothing to complain about in a real scrape', () => {
    expect(scrape).toContain('picluster_node_up{node="a1"} 1');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: scrape, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('every metric name in the alert rules and Grafana dashboards exists in the scrape', () => {
    const families = scrapeFamilies(scrape);
    const used = new Map<string, string>();
    for (const expr of ruleExprs()) for (const n of metricNames(expr)) used.set(n, 'rules');
    for (const { dashboard, expr } of dashboardExprs()) for (const n of metricNames(expr)) used.set(n, dashboard);
    expect(used.size).toBeGreaterThan(40);
    const missing = [...used].filter(([n]) => !families.has(familyOf(n, families))).map(([n, where]) => `${n} (${where})`);
    expect(missing).toEqual([]);
  });

  it('the scrape has samples for the per-node and job families, not only their headers', () => {
    for (const line of [
      'picluster_node_state{node="a2",state="online"} 1',
      'picluster_node_throttled{node="pi-sim",flag="under_voltage_now"} 1',
      'picluster_node_throttled{node="pi-sim",flag="freq_capped_now"} 0',
      'picluster_node_temperature_celsius{node="pi-sim"} 71.5',
      'picluster_node_placement_derate{node="pi-sim"} 1.875',
      'picluster_jobs_finished_total{state="succeeded"} 2',
      'picluster_jobs_finished_total{state="failed"} 1',
    ]) {
      expect(scrape).toContain(line);
    }
    expect(scrape).toMatch(/^picluster_node_memory_available_bytes\{node="a1"\} \d+/m);
    expect(scrape).toMatch(/^picluster_job_duration_seconds_count\{outcome="succeeded"\} 2$/m);
    expect(scrape).toMatch(/^picluster_process_cpu_seconds_total \d/m);
  });

  it('Prometheus scrapes the master and has node and job series', { timeout: 60_000 }, async () => {
    await waitFor('master target up', async () => (await promQuery('up{job="picluster-master"} == 1')).length === 1, 30_000, 200);
    const up = await waitFor(
      'node series',
      async () => {
        const r = await promQuery('picluster_node_up');
        return r.length >= 3 ? r : undefined;
      },
      30_000,
      200,
    );
    expect(Object.fromEntries(up.map((s) => [s.metric.node, s.value[1]]))).toMatchObject({ a1: '1', a2: '1', 'pi-sim': '1' });
    expect(up[0]!.metric).toMatchObject({ job: 'picluster-master', instance: `127.0.0.1:${harness.port}`, role: 'master' });
    const finished = await promQuery('picluster_jobs_finished_total');
    expect(Object.fromEntries(finished.map((s) => [s.metric.state, s.value[1]]))).toMatchObject({ succeeded: '2', failed: '1', cancelled: '0' });
    expect((await promQuery('picluster_node_throttled{flag="under_voltage_now"} == 1')).map((s) => s.metric.node)).toEqual(['pi-sim']);
    expect((await promQuery('histogram_quantile(0.5, sum by (le) (picluster_dispatch_latency_seconds_bucket))')).length).toBe(1);
  });

  it('every shipped rule evaluates without error, and the under-voltage alert is pending for the simulated Pi', { timeout: 60_000 }, async () => {
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string };
    const rules = await waitFor(
      'every rule evaluated',
      async () => {
        const body = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: Rule[] }[] } };
        const all = body.data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001')) ? all : undefined;
      },
      30_000,
      200,
    );
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    const alert = await waitFor(
      'PiclusterNodeUnderVoltage pending',
      async () => {
        const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
        return body.data.alerts.find((a) => a.labels.alertname === 'PiclusterNodeUnderVoltage');
      },
      30_000,
      200,
    );
    expect(alert).toMatchObject({ state: 'pending', labels: { node: 'pi-sim', flag: 'under_voltage_now', severity: 'critical' } });
  });
});
