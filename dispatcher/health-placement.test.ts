/**
 * Health-aware placement through the Dispatcher: skipped nodes get no jobs, derated nodes lose
 * to healthy ones under best-performance, and a node event is recorded only when the decision
 * changes (not on every heartbeat).
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { loadConfig } from '../common/config.ts';
import { ValidationError } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { PROTOCOL_VERSION, type DispatcherMessage, type Health } from '../common/protocol.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { Dispatcher, type SchedulerSettings } from './dispatcher.ts';
import { DEFAULT_HEALTH_POLICY } from './domain/health.ts';
import type { AgentLink } from './node-runtime.ts';
import { asyncStore } from './store/async-adapter.ts';
import { MemoryStore } from './store/memory-store.ts';

const SECRET = 'test-cluster-secret-0123456789';

class FakeLink implements AgentLink {
  sent: DispatcherMessage[] = [];
  send(m: DispatcherMessage): void {
    this.sent.push(m);
  }
  close(): void {}
  assigned(): number {
    return this.sent.filter((m) => m.type === 'assign').length;
  }
}

async function setup(extra: Partial<SchedulerSettings> = {}) {
  const settings: SchedulerSettings = {
    strategy: 'best-performance',
    heartbeatMs: 1000,
    missedHeartbeats: 3,
    restartGraceMs: 5000,
    defaultRetries: 0,
    retryBackoffMs: 100,
    retryBackoffMaxMs: 1000,
    outputLimitBytes: 1024,
    ...extra,
  };
  const store = new MemoryStore();
  const d = new Dispatcher({
    store: asyncStore(store),
    clock: new ManualClock(),
    log: silentLogger(),
    scheduler: settings,
    clusterSecret: SECRET,
    defer: (fn) => fn(),
  });
  await d.start();
  const links = new Map<string, FakeLink>();
  const connect = (name: string) => {
    const link = new FakeLink();
    d.agentHello(
      {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: deriveNodeToken(SECRET, name),
        node: { name, cpus: 4, memoryMb: 1024, arch: 'arm64', platform: 'linux', agentVersion: '0.1.0', bootId: `b-${name}` },
        running: [],
      },
      link,
    );
    links.set(name, link);
    return link;
  };
  const heartbeat = async (name: string, health: Health) => {
    d.agentMessage(name, links.get(name)!, { type: 'heartbeat', health, running: [] });
    await d.idle();
  };
  const pull = async (name: string, slots = 1) => {
    d.agentMessage(name, links.get(name)!, { type: 'pull', slots });
    await d.idle();
  };
  const placementEvents = async (name: string) => (await d.nodeEvents(name)).filter((e) => e.kind === 'placement').map((e) => e.message);
  const submit = async () => {
    const jobs = await d.submit([{ spec: { kind: 'exec', argv: ['true'] } }]);
    await d.idle();
    return jobs;
  };
  return { d, connect, heartbeat, pull, placementEvents, submit, links };
}

describe('health-aware placement in the Dispatcher', () => {
  it('a derated node loses to a healthy one under best-performance', async () => {
    const t = await setup();
    t.connect('a');
    t.connect('b');
    await t.heartbeat('a', { temperatureC: 82 }); // hot: x2
    await t.heartbeat('b', { temperatureC: 45 });
    await t.pull('a');
    await t.pull('b');
    await t.submit();
    expect(t.links.get('b')!.assigned()).toBe(1);
    expect(t.links.get('a')!.assigned()).toBe(0);
    expect(t.d.nodePlacement('a')).toMatchObject({ status: 'derated', derate: 2 });
  });

  it('a skipped node gets nothing until it recovers; events only on changes', async () => {
    const t = await setup({ health: { ...DEFAULT_HEALTH_POLICY, skipWhenUnderVoltage: true } });
    t.connect('a');
    await t.heartbeat('a', { throttled: 0x50005 });
    await t.heartbeat('a', { throttled: 0x50005 });
    await t.heartbeat('a', { throttled: 0x50005, temperatureC: 50 });
    await t.pull('a');
    await t.submit();
    expect(t.links.get('a')!.assigned()).toBe(0);
    expect(await t.placementEvents('a')).toEqual(['skipped for placement (no new jobs): under-voltage, throttled']);

    await t.heartbeat('a', { throttled: 0x50000 }); // recovered (only since-boot bits left)
    expect(t.links.get('a')!.assigned()).toBe(1); // the waiting job went out at once
    await t.heartbeat('a', { throttled: 0x50000 });
    expect(await t.placementEvents('a')).toEqual(['healthy again: placed normally', 'skipped for placement (no new jobs): under-voltage, throttled']);
  });

  it('skips above the configured temperature', async () => {
    const t = await setup({ health: { ...DEFAULT_HEALTH_POLICY, skipAboveTemperatureC: 84 } });
    t.connect('a');
    await t.heartbeat('a', { temperatureC: 85 });
    await t.pull('a');
    await t.submit();
    expect(t.links.get('a')!.assigned()).toBe(0);
    expect(t.d.nodePlacement('a').status).toBe('skipped');
    expect(await t.placementEvents('a')).toEqual(['skipped for placement (no new jobs): too hot 85C']);
  });
});

describe('scheduler.health in the config', () => {
  it('defaults to the default policy', async () => {
    expect(loadConfig().scheduler.health).toEqual(DEFAULT_HEALTH_POLICY);
  });
  it('takes env overrides and rejects derates below 1', async () => {
    const c = loadConfig({
      env: { PICLUSTER_SCHEDULER__HEALTH__SKIP_WHEN_UNDER_VOLTAGE: 'true', PICLUSTER_SCHEDULER__HEALTH__SKIP_ABOVE_TEMPERATURE_C: '84' },
    });
    expect(c.scheduler.health).toMatchObject({ skipWhenUnderVoltage: true, skipAboveTemperatureC: 84, hotDerate: 2 });
    expect(() => loadConfig({ overrides: { 'scheduler.health.hotDerate': 0.5 } })).toThrow(ValidationError);
  });
});
