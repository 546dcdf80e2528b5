import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { PROTOCOL_VERSION, type DispatcherMessage } from '../common/protocol.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { buildInventory } from '../inventory/inventory.ts';
import { Dispatcher } from './dispatcher.ts';
import { NodeLifecycle, type LifecyclePolicy } from './lifecycle.ts';
import type { AgentLink } from './node-runtime.ts';
import type { PowerDriver, PowerResult, PowerState } from './power/driver.ts';
import { asyncStore } from './store/async-adapter.ts';
import { MemoryStore } from './store/memory-store.ts';
import { countStoreWrites } from './store/write-counter.ts';

const SECRET = 'lifecycle-secret-0123456789';
const policy: LifecyclePolicy = {
  enabled: true,
  graceMs: 1000,
  rebootTimeoutMs: 5000,
  bootTimeoutMs: 10_000,
  expectBootEvent: false,
  maxCycles: 2,
  windowMs: 600_000,
  breakerFraction: 0.5,
  breakerMinNodes: 2,
  maxConcurrentPowerOps: 2,
  staggerMs: 0,
};

class FakeLink implements AgentLink {
  sent: DispatcherMessage[] = [];
  closed = false;
  send(m: DispatcherMessage): void {
    this.sent.push(m);
  }
  close(): void {
    this.closed = true;
  }
}

/** A power driver that records calls; `gate` lets a test hold an action open. */
class FakeDriver implements PowerDriver {
  readonly name = 'fake';
  readonly capabilities = { on: true, off: true, cycle: true, status: true, verifiable: true };
  calls: string[] = [];
  state: PowerState = 'on';
  gate: Promise<void> | undefined;
  fail = false;
  onCall: ((action: string) => void) | undefined;
  private async act(action: string, to: PowerState): Promise<PowerResult> {
    this.calls.push(action);
    this.onCall?.(action);
    if (this.gate) await this.gate;
    if (this.fail) throw Object.assign(new Error('switch did not answer'), { code: 'POWER_UNREACHABLE' });
    this.state = to;
    return { ok: true, verified: true, state: to };
  }
  on() {
    return this.act('on', 'on');
  }
  off() {
    return this.act('off', 'off');
  }
  cycle() {
    return this.act('cycle', 'on');
  }
  async status() {
    return this.state;
  }
}

async function setup(names: string[], p: Partial<LifecyclePolicy> = {}, store = new MemoryStore(), clock = new ManualClock()) {
  const inventory = buildInventory({
    nodes: names.map((n, i) => ({ name: n, mac: `b8:27:eb:00:00:${String(i + 10)}`, power: { driver: 'command', on: ['true'] } })),
  });
  const shared = asyncStore(store); // one adapter for the dispatcher and the lifecycle
  const dispatcher = new Dispatcher({
    store: shared,
    clock,
    log: silentLogger(),
    clusterSecret: SECRET,
    inventory,
    poisonAfterNodeLosses: 2,
    defer: (fn) => fn(),
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 1000,
      missedHeartbeats: 3,
      restartGraceMs: 0,
      defaultRetries: 5,
      retryBackoffMs: 0,
      retryBackoffMaxMs: 0,
      outputLimitBytes: 1024,
    },
  });
  await dispatcher.start();
  const drivers = new Map(names.map((n) => [n, new FakeDriver()]));
  const lifecycle = new NodeLifecycle({
    dispatcher,
    store: shared,
    clock,
    log: silentLogger(),
    policy: { ...policy, ...p },
    driverFor: (n) => drivers.get(n.name)!,
    sleep: async (ms) => clock.advance(ms),
  });
  const links = new Map<string, FakeLink>();
  const connect = async (name: string, bootId = `boot-${name}-1`, pull = 2) => {
    const link = new FakeLink();
    links.set(name, link);
    expect(
      dispatcher.agentHello(
        {
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          token: deriveNodeToken(SECRET, name),
          node: { name, cpus: 2, memoryMb: 512, arch: 'arm64', platform: 'linux', agentVersion: 't', bootId },
          running: [],
        },
        link,
      ).ok,
    ).toBe(true);
    if (pull) dispatcher.agentMessage(name, link, { type: 'pull', slots: pull });
    await dispatcher.idle();
    return link;
  };
  const beat = async (name: string) => {
    dispatcher.agentMessage(name, links.get(name)!, { type: 'heartbeat', health: {}, running: [] });
    await dispatcher.idle();
  };
  const tick = async () => {
    dispatcher.tick();
    await dispatcher.idle();
    lifecycle.tick();
    await dispatcher.idle();
  };
  return { dispatcher, lifecycle, drivers, store, clock, connect, beat, tick, links };
}

/** Lets the lifecycle's async power actions run to completion. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('power actions', () => {
  it('journals before sending, completes after verification, requeues the jobs of a cycled node', async () => {
    const { dispatcher, lifecycle, drivers, store, connect } = await setup(['n1']);
    await connect('n1');
    const [job] = await dispatcher.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }]);
    await dispatcher.idle();
    expect((await dispatcher.getJob(job!.id)).state).toBe('running');
    let pendingWhenSent = 0;
    drivers.get('n1')!.onCall = () => (pendingWhenSent = store.unfinishedPowerOps().length);
    const op = await lifecycle.power('n1', 'cycle', 'admin');
    expect(pendingWhenSent).toBe(1);
    expect(op).toMatchObject({ node: 'n1', driver: 'fake', action: 'cycle', state: 'succeeded', verified: true, actor: 'admin' });
    expect(store.unfinishedPowerOps()).toEqual([]);
    expect(dispatcher.getNode('n1').state).toBe('booting');
    expect(await dispatcher.getJob(job!.id)).toMatchObject({ state: 'queued', attempts: 1 });
    expect((await dispatcher.nodeEvents('n1')).some((e) => e.kind === 'power' && e.message.includes('cycle via fake: done, verified'))).toBe(true);
  });

  it('records a failed action with the reason and rejects a second action on the same node while one runs', async () => {
    const { lifecycle, drivers } = await setup(['n1']);
    drivers.get('n1')!.fail = true;
    expect(await lifecycle.power('n1', 'off', 'admin')).toMatchObject({ state: 'failed', detail: 'POWER_UNREACHABLE: switch did not answer' });
    drivers.get('n1')!.fail = false;
    let release!: () => void;
    drivers.get('n1')!.gate = new Promise((r) => (release = r));
    const first = lifecycle.power('n1', 'on', 'admin');
    await settle();
    await expect(lifecycle.power('n1', 'on', 'admin')).rejects.toThrow(/already under way/);
    release();
    expect((await first).state).toBe('succeeded');
  });

  it('runs at most maxConcurrent power operations cluster-wide', async () => {
    const { lifecycle, drivers } = await setup(['a', 'b', 'c'], { maxConcurrentPowerOps: 2 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    for (const d of drivers.values()) d.gate = gate;
    const ops = ['a', 'b', 'c'].map((n) => lifecycle.power(n, 'cycle', 'admin'));
    await settle();
    expect([...drivers.values()].map((d) => d.calls.length)).toEqual([1, 1, 0]);
    release();
    await Promise.all(ops);
    expect([...drivers.values()].map((d) => d.calls.length)).toEqual([1, 1, 1]);
  });

  it('turns a port left off by a crashed master back on at the next start', async () => {
    const { lifecycle, drivers, store, dispatcher } = await setup(['n1']);
    store.insertPowerOp({ node: 'n1', driver: 'fake', action: 'cycle', actor: 'recovery', at: 1 });
    drivers.get('n1')!.state = 'off';
    expect(await lifecycle.reconcile()).toBe(1);
    expect(drivers.get('n1')!.calls).toEqual(['on']);
    expect(store.listPowerOps({ node: 'n1' })[0]).toMatchObject({ state: 'reconciled', detail: expect.stringContaining('powered back on') });
    expect(dispatcher.getNode('n1').state).toBe('booting');
  });
});

describe('recovery ladder', () => {
  /** Advances time in 500 ms steps, keeping `alive` nodes heartbeating, ticking and settling. */
  async function run(t: Awaited<ReturnType<typeof setup>>, ms: number, alive: string[]) {
    for (let done = 0; done < ms; done += 500) {
      t.clock.advance(500);
      for (const n of alive) await t.beat(n);
      await t.tick();
      await settle();
    }
  }

  it('a paused VM powered off and on: its agent heartbeats on the same link again, so it is online and never cycled (cluster e2e)', async () => {
    // qemu's offMode stop: off pauses the guest (the link stays open), on continues the same boot
    const t = await setup(['n1', 'n2']);
    await t.connect('n1');
    await t.connect('n2');
    expect(await t.lifecycle.power('n1', 'off', 'admin')).toMatchObject({ state: 'succeeded' });
    expect(t.dispatcher.getNode('n1').state).toBe('offline');
    expect(await t.lifecycle.power('n1', 'on', 'admin')).toMatchObject({ state: 'succeeded' });
    expect(t.dispatcher.getNode('n1').state).toBe('booting');
    // a frame already in flight when the power came on proves nothing
    await t.beat('n1');
    expect(t.dispatcher.getNode('n1').state).toBe('booting');
    await run(t, 1500, ['n1', 'n2']);
    expect(t.dispatcher.getNode('n1')).toMatchObject({ state: 'online', boots: 1, connected: true });
    expect((await t.dispatcher.nodeEvents('n1')).some((e) => e.kind === 'state' && e.message.includes('its boot resumed'))).toBe(true);
    // the ladder that expected a boot ends: no cycle of a healthy node after the boot timeout
    await run(t, 12_000, ['n1', 'n2']);
    expect(t.drivers.get('n1')!.calls).toEqual(['off', 'on']);
    expect(t.lifecycle.ladderOf('n1')).toBeUndefined();
  });

  it('power-cycles a lost node after the grace; it rejoins with a new boot id and the ladder ends', async () => {
    const t = await setup(['n1', 'n2', 'n3']);
    for (const n of ['n1', 'n2', 'n3']) await t.connect(n);
    await run(t, 3000, ['n2', 'n3']);
    expect(t.dispatcher.getNode('n1').state).toBe('lost');
    expect(t.drivers.get('n1')!.calls).toEqual([]); // grace
    await run(t, 1500, ['n2', 'n3']);
    expect(t.drivers.get('n1')!.calls).toEqual(['cycle']);
    expect(t.dispatcher.getNode('n1').state).toBe('booting');
    await t.connect('n1', 'boot-n1-2');
    await run(t, 500, ['n1', 'n2', 'n3']);
    expect(t.dispatcher.getNode('n1')).toMatchObject({ state: 'online', boots: 2 });
    expect(t.lifecycle.ladderOf('n1')).toBeUndefined();
    expect((await t.dispatcher.nodeEvents('n1')).map((e) => e.kind)).toEqual(expect.arrayContaining(['recovery', 'power', 'recovered']));
  });

  it('quarantines a node that no power cycle brings back, and raises one alert', async () => {
    const t = await setup(['n1', 'n2', 'n3']);
    for (const n of ['n1', 'n2', 'n3']) await t.connect(n);
    await run(t, 3000 + 1500, ['n2', 'n3']);
    expect(t.drivers.get('n1')!.calls).toEqual(['cycle']);
    await run(t, 10_500, ['n2', 'n3']);
    expect(t.drivers.get('n1')!.calls).toEqual(['cycle', 'cycle']);
    await run(t, 10_500, ['n2', 'n3']);
    expect(t.dispatcher.getNode('n1').state).toBe('quarantined');
    expect(await t.lifecycle.alerts(true)).toEqual([expect.objectContaining({ kind: 'node-quarantined', node: 'n1', severity: 'critical' })]);
    await run(t, 30_000, ['n2', 'n3']);
    expect(t.drivers.get('n1')!.calls).toHaveLength(2); // no more cycles
  });

  it('storm guard: losing half the nodes at once opens the breaker instead of cycling them', async () => {
    const t = await setup(['n1', 'n2', 'n3', 'n4']);
    for (const n of ['n1', 'n2', 'n3', 'n4']) await t.connect(n);
    await run(t, 20_000, ['n3', 'n4']);
    expect(t.dispatcher.getNode('n1').state).toBe('lost');
    expect(t.lifecycle.breakerIsOpen).toBe(true);
    expect([...t.drivers.values()].flatMap((d) => d.calls)).toEqual([]);
    const open = await t.lifecycle.alerts(true);
    expect(open.filter((a) => a.kind === 'circuit-breaker')).toHaveLength(1);
    // the nodes come back: the breaker closes and its alert is resolved
    await t.connect('n1', 'boot-n1-2');
    await t.connect('n2', 'boot-n2-2');
    await run(t, 1000, ['n1', 'n2', 'n3', 'n4']);
    expect(t.lifecycle.breakerIsOpen).toBe(false);
    expect((await t.lifecycle.alerts(true)).some((a) => a.kind === 'circuit-breaker')).toBe(false);
  });

  it('an open alert is not re-written on every tick (open-alert cache); resolved, it is raised anew', async () => {
    const { store, counts } = countStoreWrites(new MemoryStore());
    const t = await setup(['n1', 'n2', 'n3', 'n4'], {}, store);
    for (const n of ['n1', 'n2', 'n3', 'n4']) await t.connect(n);
    // n1 and n2 lost at once: the breaker opens and each tick's ladder says "alert" for both.
    await run(t, 20_000, ['n3', 'n4']);
    const blocked = async () => (await t.lifecycle.alerts(true)).filter((a) => a.kind === 'recovery-blocked');
    expect((await blocked()).map((a) => a.node).sort()).toEqual(['n1', 'n2']);
    expect(counts.get('raiseAlert')).toBe(3); // circuit-breaker + recovery-blocked ×2, not once per tick
    await run(t, 10_000, ['n3', 'n4']);
    expect(counts.get('raiseAlert')).toBe(3);
    // Resolved through the lifecycle (as master.ts's watches do), the same kind is raised again.
    const first = (await t.lifecycle.alert('disk-low', 'critical', 'low'))!;
    expect((await t.lifecycle.alert('disk-low', 'critical', 'still low'))!.id).toBe(first.id);
    expect(await t.lifecycle.resolveAlert('disk-low')).toBe(true);
    expect(await t.lifecycle.resolveAlert('disk-low')).toBe(false);
    const second = (await t.lifecycle.alert('disk-low', 'critical', 'low again'))!;
    expect(second.id).not.toBe(first.id);
    expect((await t.lifecycle.alerts(true)).filter((a) => a.kind === 'disk-low')).toEqual([expect.objectContaining({ id: second.id, message: 'low again' })]);
    // The nodes come back: their recovery-blocked alerts are resolved; lost again, raised anew.
    await t.connect('n1', 'boot-n1-2');
    await t.connect('n2', 'boot-n2-2');
    await run(t, 1000, ['n1', 'n2', 'n3', 'n4']);
    expect(await blocked()).toEqual([]);
    await run(t, 20_000, ['n3', 'n4']);
    expect((await blocked()).map((a) => a.node).sort()).toEqual(['n1', 'n2']);
  });

  it('never touches a node in maintenance', async () => {
    const t = await setup(['n1', 'n2', 'n3']);
    for (const n of ['n1', 'n2', 'n3']) await t.connect(n);
    t.dispatcher.setMaintenance('n1', true);
    await t.dispatcher.idle();
    await run(t, 20_000, ['n2', 'n3']);
    expect(t.dispatcher.getNode('n1').state).toBe('maintenance');
    expect(t.drivers.get('n1')!.calls).toEqual([]);
  });
});

describe('drain and the poison-job guard', () => {
  it('graceful drain finishes running jobs, then the node is drained; immediate requeues them', async () => {
    const t = await setup(['n1', 'n2']);
    const l1 = await t.connect('n1', undefined, 1);
    const [a] = await t.dispatcher.submit([{ spec: { kind: 'exec', argv: ['a'] } }]);
    await t.dispatcher.idle();
    const assign = l1.sent.find((m) => m.type === 'assign') as { attemptId: number };
    expect(t.dispatcher.drain('n1').state).toBe('draining');
    t.dispatcher.agentMessage('n1', l1, {
      type: 'result',
      result: { attemptId: assign.attemptId, jobId: a!.id, outcome: 'succeeded', startedAt: 0, durationMs: 1 },
    });
    await t.dispatcher.idle();
    expect(t.dispatcher.getNode('n1').state).toBe('drained');
    await t.dispatcher.submit([{ spec: { kind: 'exec', argv: ['b'] } }]);
    await t.dispatcher.idle();
    t.dispatcher.agentMessage('n1', l1, { type: 'pull', slots: 1 });
    await t.dispatcher.idle();
    expect(l1.sent.filter((m) => m.type === 'assign')).toHaveLength(1); // a drained node takes nothing
    expect(t.dispatcher.undrain('n1').state).toMatch(/online|busy/);
    await t.dispatcher.idle();
    expect(l1.sent.filter((m) => m.type === 'assign')).toHaveLength(2); // takes work again
    const l2 = await t.connect('n2', undefined, 1);
    const [c] = await t.dispatcher.submit([{ spec: { kind: 'exec', argv: ['c'] } }]);
    await t.dispatcher.idle();
    const onN2 = (await t.dispatcher.getJob(c!.id)).node === 'n2' ? 'n2' : 'n1';
    t.dispatcher.drain(onN2, { immediate: true });
    await t.dispatcher.idle();
    expect((onN2 === 'n2' ? l2 : l1).sent.some((m) => m.type === 'cancel')).toBe(true);
    expect(await t.dispatcher.getJob(c!.id)).toMatchObject({ state: 'queued', reason: 'node drained' });
    expect(t.store.listAttempts(c!.id)[0]!.state).toBe('abandoned');
  });

  it('fails a job whose attempts keep dying with their node instead of retrying it', async () => {
    const t = await setup(['n1', 'n2', 'n3'], { enabled: false });
    for (const n of ['n1', 'n2', 'n3']) await t.connect(n, undefined, 1);
    const [job] = await t.dispatcher.submit([{ spec: { kind: 'exec', argv: ['crash-the-node'] }, requirements: { labels: {} } }]);
    await t.dispatcher.idle();
    const victim1 = (await t.dispatcher.getJob(job!.id)).node!;
    const others = ['n1', 'n2', 'n3'].filter((n) => n !== victim1);
    for (let i = 0; i < 8; i++) {
      t.clock.advance(500);
      for (const n of others) await t.beat(n);
      await t.tick();
    }
    const second = await t.dispatcher.getJob(job!.id);
    expect(second.nodeLosses).toBe(1);
    const victim2 = second.node!;
    const last = ['n1', 'n2', 'n3'].filter((n) => n !== victim1 && n !== victim2);
    for (let i = 0; i < 8; i++) {
      t.clock.advance(500);
      for (const n of last) await t.beat(n);
      await t.tick();
    }
    expect(await t.dispatcher.getJob(job!.id)).toMatchObject({ state: 'failed', nodeLosses: 2, reason: expect.stringContaining('poison job') });
  });
});
