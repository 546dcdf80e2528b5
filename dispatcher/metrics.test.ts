/**
 * /metrics content (per-node families, throttled flags, bounded labels, boots, quarantine hook),
 * GET /api/metrics and GET /api/monitoring/export, on an app built with `buildApp`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { ManualClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { PROTOCOL_VERSION, type DispatcherMessage, type Health } from '../common/protocol.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { Dispatcher } from './dispatcher.ts';
import { buildApp } from './http/app.ts';
import { createMetrics, powerMetrics } from './metrics.ts';
import type { AgentLink } from './node-runtime.ts';
import { asyncStore } from './store/async-adapter.ts';
import { MemoryStore } from './store/memory-store.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const SECRET = 'cluster-secret-0123456789abcdef';
const auth = { authorization: `Bearer ${ADMIN}` };

class FakeLink implements AgentLink {
  sent: DispatcherMessage[] = [];
  send(m: DispatcherMessage): void {
    this.sent.push(m);
  }
  close(): void {}
}

let app: FastifyInstance;
let dispatcher: Dispatcher;
let registry: Registry;
let clock: ManualClock;
const links = new Map<string, FakeLink>();

function connect(name: string, mac?: string): FakeLink {
  const link = new FakeLink();
  const r = dispatcher.agentHello(
    {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      token: deriveNodeToken(SECRET, name),
      node: {
        name,
        cpus: 4,
        memoryMb: 926,
        arch: 'arm64',
        platform: 'linux',
        agentVersion: '0.1.0',
        bootId: `boot-${name}`,
        model: 'pi3b+',
        ...(mac ? { mac } : {}),
      },
      running: [],
    },
    link,
  );
  expect(r.ok).toBe(true);
  links.set(name, link);
  return link;
}
const heartbeat = (name: string, health: Health) => dispatcher.agentMessage(name, links.get(name)!, { type: 'heartbeat', health, running: [] });

beforeEach(async () => {
  clock = new ManualClock();
  dispatcher = new Dispatcher({
    store: asyncStore(new MemoryStore()),
    clock,
    log: silentLogger(),
    clusterSecret: SECRET,
    defer: (fn) => fn(),
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 1000,
      missedHeartbeats: 3,
      restartGraceMs: 1000,
      defaultRetries: 1,
      retryBackoffMs: 10,
      retryBackoffMaxMs: 100,
      outputLimitBytes: 4096,
    },
  });
  await dispatcher.start();
  registry = createMetrics(dispatcher, new Registry(), { processMetrics: false, clock, version: '9.9.9' });
  app = await buildApp({
    dispatcher,
    registry,
    log: silentLogger(),
    auth: { adminToken: ADMIN },
    version: '0.0.0-test',
    storeKind: 'memory',
    monitoring: { sampleIntervalMs: 10, historySamples: 5, clock },
  });
  await app.ready();
});
afterEach(async () => {
  links.clear();
  await app.close();
});

const scrape = async (): Promise<string> => (await app.inject({ url: '/metrics' })).body;

describe('/metrics', () => {
  it('exposes per-node health with throttled flags as separate series', async () => {
    connect('pi-1');
    connect('pi-2');
    heartbeat('pi-1', {
      temperatureC: 61.2,
      throttled: 0x50005,
      cpuPercent: 47.5,
      load1: 1.5,
      memTotalMb: 926,
      memAvailableMb: 700,
      netRxBytes: 1000,
      netTxBytes: 2000,
      uptimeS: 99,
      cpuFreqMhz: 1400,
    });
    heartbeat('pi-2', {});
    clock.advance(1500);
    const m = await scrape();
    expect(m).toContain('picluster_node_up{node="pi-1"} 1');
    expect(m).toContain('picluster_node_state{node="pi-1",state="online"} 1');
    expect(m).toContain('picluster_node_state{node="pi-1",state="lost"} 0');
    expect(m).toContain('picluster_node_temperature_celsius{node="pi-1"} 61.2');
    expect(m).toContain('picluster_node_throttled{node="pi-1",flag="under_voltage_now"} 1');
    expect(m).toContain('picluster_node_throttled{node="pi-1",flag="freq_capped_now"} 0');
    expect(m).toContain('picluster_node_throttled{node="pi-1",flag="throttled_since_boot"} 1');
    expect(m).toContain('picluster_node_cpu_usage_ratio{node="pi-1"} 0.475');
    expect(m).toContain('picluster_node_cpu_frequency_hertz{node="pi-1"} 1400000000');
    expect(m).toContain(`picluster_node_memory_available_bytes{node="pi-1"} ${700 * 1048576}`);
    expect(m).toContain('picluster_node_network_receive_bytes_total{node="pi-1"} 1000');
    expect(m).toContain('picluster_node_last_heartbeat_age_seconds{node="pi-1"} 1.5');
    expect(m).toContain('picluster_node_boots_total{node="pi-1"} 1');
    expect(m).toContain('picluster_node_slots{node="pi-1"} 4');
    expect(m).toContain('picluster_node_placement_derate{node="pi-1"} 1.5');
    expect(m).toContain('picluster_node_placement_skipped{node="pi-1"} 0');
    expect(m).toContain('picluster_build_info{version="9.9.9"} 1');
    // absent sources stay absent: no throttled or temperature series for pi-2
    expect(m).not.toMatch(/picluster_node_throttled\{node="pi-2"/);
    expect(m).not.toMatch(/picluster_node_temperature_celsius\{node="pi-2"/);
    // counters exist at 0 before anything happened, netboot and power families are declared
    expect(m).toContain('picluster_jobs_finished_total{state="failed"} 0');
    expect(m).toContain('picluster_job_attempts_total{outcome="timed-out"} 0');
    for (const name of [
      'picluster_dhcp_requests_total',
      'picluster_tftp_transfers_total',
      'picluster_power_operations_total',
      'picluster_boot_duration_seconds',
      'picluster_node_quarantines_total',
    ]) {
      expect(m).toContain(`# TYPE ${name} `);
    }
  });

  it('never labels by job id: every label value set is bounded', async () => {
    connect('pi-1');
    const link = links.get('pi-1')!;
    dispatcher.agentMessage('pi-1', link, { type: 'pull', slots: 4 });
    await dispatcher.idle();
    const jobs = await dispatcher.submit(
      Array.from({ length: 3 }, (_, i) => ({
        spec: { kind: 'exec' as const, argv: ['echo', String(i)] },
        group: i === 0 ? 'a' : 'b',
        retryOn: ['failure' as const],
      })),
    );
    await dispatcher.idle();
    for (const m of link.sent) {
      if (m.type === 'assign')
        dispatcher.agentMessage('pi-1', link, {
          type: 'result',
          result: { attemptId: m.attemptId, jobId: m.jobId, outcome: 'failed', exitCode: 1, startedAt: 0, durationMs: 20 },
        });
    }
    await dispatcher.idle();
    const m = await scrape();
    const pairs = [...m.matchAll(/[{,]([a-z_]+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!] as const);
    const allowed = new Set([
      'agent_version',
      'arch',
      'flag',
      'image_version',
      'kind',
      'le',
      'model',
      'node',
      'outcome',
      'result',
      'state',
      'to',
      'version',
      'group',
    ]);
    expect(pairs.map(([k]) => k).filter((k) => !allowed.has(k))).toEqual([]);
    const ids = new Set(jobs.map((j) => String(j.id)));
    expect(pairs.filter(([k, v]) => k !== 'le' && ids.has(v))).toEqual([]);
    expect(m).toContain('picluster_job_attempts_total{outcome="failed"} 3');
    expect(m).toContain('picluster_job_retries_total 3');
    expect(m).toContain('picluster_node_jobs_total{node="pi-1",result="failed"} 3');
    expect(m).toMatch(/picluster_job_duration_seconds_count\{outcome="failed"\} 3/);
    expect(m).toMatch(/picluster_dispatch_latency_seconds_count 3/);
  });

  it('times a boot from the first DHCP answer to the agent hello, and counts boot events', async () => {
    const mac = 'b8:27:eb:00:00:01';
    dispatcher.recordBootEvent({ kind: 'dhcp-discover', at: clock.now(), mac, outcome: 'answered' });
    await dispatcher.idle();
    clock.advance(5_000);
    dispatcher.recordBootEvent({ kind: 'dhcp-discover', at: clock.now(), mac, outcome: 'answered' });
    await dispatcher.idle();
    dispatcher.recordBootEvent({ kind: 'tftp-transfer', at: clock.now(), mac, outcome: 'timeout' });
    await dispatcher.idle();
    clock.advance(20_000);
    connect('pi-9', mac);
    const m = await scrape();
    expect(m).toContain('picluster_boot_duration_seconds_count 1');
    expect(m).toContain('picluster_boot_duration_seconds_sum 25');
    expect(m).toContain('picluster_boot_events_total{kind="tftp-transfer",outcome="timeout"} 1');
    expect(m).toContain('picluster_boot_events_total{kind="agent-hello",outcome="connected"} 1');
  });

  it('gives the power drivers a hook on the same registry', async () => {
    powerMetrics(registry).operations.inc({ driver: 'snmp-poe', action: 'cycle', outcome: 'ok' });
    expect(powerMetrics(registry).operations).toBe(powerMetrics(registry).operations);
    expect(await scrape()).toContain('picluster_power_operations_total{driver="snmp-poe",action="cycle",outcome="ok"} 1');
  });
});

describe('GET /api/metrics and /api/monitoring/export', () => {
  it('summarises the cluster and nodes as JSON', async () => {
    connect('pi-1');
    heartbeat('pi-1', { temperatureC: 81, throttled: 0x4 });
    await dispatcher.submit([{ spec: { kind: 'exec', argv: ['true'] } }]);
    expect((await app.inject({ url: '/api/metrics' })).statusCode).toBe(401);
    const r = await app.inject({ url: '/api/metrics', headers: auth });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.cluster).toMatchObject({
      nodesTotal: 1,
      nodesConnected: 1,
      nodesDerated: 1,
      slotsTotal: 4,
      maxTemperatureC: 81,
      queueReady: 1,
      jobs: { queued: 1 },
    });
    expect(body.totals).toMatchObject({ submitted: 1 });
    expect(body.nodes[0]).toMatchObject({
      node: 'pi-1',
      up: true,
      temperatureC: 81,
      placement: 'derated',
      derate: 3,
      throttledFlags: { throttled_now: true, under_voltage_now: false },
    });
    expect(body.history).toMatchObject({ sampleIntervalMs: 10 });
  });

  it('exports bounded per-interval history as JSON and CSV', async () => {
    connect('pi-1');
    heartbeat('pi-1', { temperatureC: 50, throttled: 0x1 });
    await dispatcher.submit([{ spec: { kind: 'exec', argv: ['true'] } }, { spec: { kind: 'exec', argv: ['true'] } }]);
    // the ring holds at most 5 samples (historySamples) however long it runs
    await expect.poll(async () => (await app.inject({ url: '/api/monitoring/export', headers: auth })).json().rows.length, { timeout: 5000 }).toBe(5);
    const json = (await app.inject({ url: '/api/monitoring/export?format=json', headers: auth })).json();
    expect(json.rows.reduce((a: number, r: { submitted: number }) => a + r.submitted, 0)).toBeLessThanOrEqual(2);
    expect(json.rows.at(-1)).toMatchObject({ nodesTotal: 1, jobsQueued: 2, queueReady: 2, submitted: 0 });

    const csv = await app.inject({ url: '/api/monitoring/export?format=csv&scope=nodes&node=pi-1', headers: auth });
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/attachment; filename="picluster-nodes-.*\.csv"/);
    const lines = csv.body.trim().split('\r\n');
    expect(lines[0]).toBe(
      'at,time,node,state,up,slots,busy,temperatureC,cpuPercent,load1,memAvailableMb,throttled,underVoltageNow,throttledNow,heartbeatAgeS,placement,derate',
    );
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/,pi-1,online,true,4,0,50,,,,0x1,true,false,0,derated,1.5$/);

    expect((await app.inject({ url: '/api/monitoring/export?format=xml', headers: auth })).statusCode).toBe(400);
  });
});
