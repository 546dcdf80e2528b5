import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { CloseCode, PROTOCOL_VERSION, type DispatcherMessage, type ResultBody } from '../common/protocol.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { buildInventory } from '../inventory/inventory.ts';
import { Assignment } from './core/assignment.ts';
import { Dispatcher, type SchedulerSettings } from './dispatcher.ts';
import type { AgentLink } from './node-runtime.ts';
import { asyncStore } from './store/async-adapter.ts';
import { MemoryStore } from './store/memory-store.ts';
import type { Store } from './store/store.ts';

const SECRET = 'test-cluster-secret-0123456789';
const settings: SchedulerSettings = {
  strategy: 'round-robin',
  heartbeatMs: 1000,
  missedHeartbeats: 3,
  restartGraceMs: 5000,
  defaultRetries: 2,
  retryBackoffMs: 100,
  retryBackoffMaxMs: 1000,
  outputLimitBytes: 1024,
};

class FakeLink implements AgentLink {
  sent: DispatcherMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  send(m: DispatcherMessage): void {
    this.sent.push(m);
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
  of<T extends DispatcherMessage['type']>(type: T): Extract<DispatcherMessage, { type: T }>[] {
    return this.sent.filter((m): m is Extract<DispatcherMessage, { type: T }> => m.type === type);
  }
}

/** A started dispatcher over `store` that knows the nodes of `inventory`. */
async function startWithInventory(inventory: ReturnType<typeof buildInventory>, store: Store = new MemoryStore()): Promise<Dispatcher> {
  const d = new Dispatcher({
    store: asyncStore(store),
    clock: new ManualClock(),
    log: silentLogger(),
    scheduler: settings,
    clusterSecret: SECRET,
    inventory,
    defer: (fn) => fn(),
  });
  await d.start();
  return d;
}

async function setup(store: Store = new MemoryStore(), clock = new ManualClock(), extra: Partial<SchedulerSettings> = {}) {
  const d = new Dispatcher({
    store: asyncStore(store),
    clock,
    log: silentLogger(),
    scheduler: { ...settings, ...extra },
    clusterSecret: SECRET,
    defer: (fn) => fn(),
  });
  await d.start();
  const connect = async (name: string, o: { bootId?: string; running?: number[]; cpus?: number; pull?: number } = {}) => {
    const link = new FakeLink();
    const r = d.agentHello(
      {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: deriveNodeToken(SECRET, name),
        node: { name, cpus: o.cpus ?? 2, memoryMb: 1024, arch: 'arm64', platform: 'linux', agentVersion: '0.1.0', bootId: o.bootId ?? `boot-${name}` },
        running: o.running ?? [],
      },
      link,
    );
    expect(r).toEqual({ ok: true, node: name });
    if (o.pull !== 0) d.agentMessage(name, link, { type: 'pull', slots: o.pull ?? 2 });
    await d.idle();
    return link;
  };
  const result = async (name: string, link: AgentLink, attemptId: number, jobId: number, o: Partial<ResultBody> = {}) => {
    d.agentMessage(name, link, {
      type: 'result',
      result: { attemptId, jobId, outcome: 'succeeded', exitCode: 0, stdout: 'ok\n', startedAt: clock.now(), durationMs: 5, ...o },
    });
    await d.idle();
  };
  const exec = (argv = ['echo', 'hi'], o = {}) => ({ spec: { kind: 'exec' as const, argv }, ...o });
  return { d, store, clock, connect, result, exec };
}

describe('Dispatcher: the task path', () => {
  it('hands a submitted job to a pulling agent and accepts its result exactly once, acking after commit', async () => {
    const { d, connect, result, store } = await setup();
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['echo', 'hello'] } }]);
    expect(job).toMatchObject({ state: 'queued', id: expect.any(Number) });
    const link = await connect('n1');
    expect(link.of('welcome')[0]).toMatchObject({ node: 'n1', heartbeatMs: 1000, slots: 2, abandon: [] });
    const [assign] = link.of('assign');
    expect(assign).toMatchObject({ jobId: job!.id, spec: { argv: ['echo', 'hello'] }, outputLimitBytes: 1024 });
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'running', node: 'n1', currentAttemptId: assign!.attemptId });

    await result('n1', link, assign!.attemptId, job!.id, { stdout: 'hello\n' });
    expect(link.of('result-ack')).toEqual([{ type: 'result-ack', attemptId: assign!.attemptId }]);
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'succeeded' });
    expect(await d.jobOutput(job!.id)).toMatchObject({ stdout: 'hello\n', running: false });

    // the same result again (agent missed the ack): acked, counted as stale, not recorded twice
    await result('n1', link, assign!.attemptId, job!.id, { stdout: 'hello\n' });
    expect(link.of('result-ack')).toHaveLength(2);
    expect(d.staleResults).toBe(1);
    expect(store.countStaleResults()).toBe(1);
    expect(store.listAttempts(job!.id)).toHaveLength(1);
    expect(d.getNode('n1')).toMatchObject({ jobsDone: 1, running: 0, state: 'online' });
  });

  it('never assigns more than the credits and slots allow', async () => {
    const { d, connect } = await setup();
    await d.submit(Array.from({ length: 10 }, () => ({ spec: { kind: 'exec' as const, argv: ['true'] } })));
    const link = await connect('n1', { cpus: 3, pull: 2 });
    expect(link.of('assign')).toHaveLength(2);
    d.agentMessage('n1', link, { type: 'pull', slots: 5 }); // credits are capped at the slots
    await d.idle();
    expect(link.of('assign')).toHaveLength(3);
    expect(d.getNode('n1').state).toBe('busy');
  });

  it('retries failures with backoff when asked (retryOn), then fails the job with the reason', async () => {
    const { d, connect, result, clock } = await setup(undefined, undefined, { defaultRetries: 1 });
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['false'] }, retryOn: ['failure', 'timeout'] }]);
    const link = await connect('n1');
    const first = link.of('assign')[0]!;
    await result('n1', link, first.attemptId, job!.id, { outcome: 'failed', exitCode: 1 });
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'queued', reason: 'exit code 1', attempts: 1 });
    d.agentMessage('n1', link, { type: 'pull', slots: 1 });
    await d.idle();
    expect(link.of('assign')).toHaveLength(1); // still in backoff
    clock.advance(100);
    d.tick();
    await d.idle();
    const second = link.of('assign')[1]!;
    expect(second.attemptId).toBeGreaterThan(first.attemptId);
    await result('n1', link, second.attemptId, job!.id, { outcome: 'timed-out', exitCode: null, signal: 'SIGKILL' });
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'failed', reason: 'timed out (after 2 attempts)' });
  });

  it('by default fails a job that exits non-zero at once, and requeues one whose node was lost', async () => {
    const { d, connect, result, clock } = await setup(undefined, undefined, { defaultRetries: 3 });
    const [exit3, lost] = await d.submit([{ spec: { kind: 'exec', argv: ['sh', '-c', 'exit 3'] } }, { spec: { kind: 'exec', argv: ['sleep', '9'] } }]);
    const link = await connect('n1', { pull: 2 });
    const [a] = link.of('assign');
    await result('n1', link, a!.attemptId, exit3!.id, { outcome: 'failed', exitCode: 3 });
    expect(await d.getJob(exit3!.id)).toMatchObject({ state: 'failed', reason: 'exit code 3', attempts: 1 });
    clock.advance(60_000); // no heartbeats: the node is lost under the second job
    d.tick();
    await d.idle();
    expect(await d.getJob(lost!.id)).toMatchObject({ state: 'queued', attempts: 1 });
    expect((await d.getJob(lost!.id)).reason).toMatch(/lost/);
  });

  it('cancels a queued job at once and a running one through its agent', async () => {
    const { d, connect, result } = await setup();
    const [a, b] = await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '100'] } }, { spec: { kind: 'exec', argv: ['true'] } }]);
    const link = await connect('n1', { pull: 1 });
    const assign = link.of('assign')[0]!;
    expect((await d.cancel(b!.id)).state).toBe('cancelled');
    expect(await d.cancel(a!.id)).toMatchObject({ state: 'running', cancelRequested: true });
    expect(link.of('cancel')).toEqual([{ type: 'cancel', attemptId: assign.attemptId, reason: 'cancelled by admin' }]);
    await result('n1', link, assign.attemptId, a!.id, { outcome: 'cancelled', signal: 'SIGTERM', exitCode: null });
    expect(await d.getJob(a!.id)).toMatchObject({ state: 'cancelled' });
    await expect(d.cancel(a!.id)).rejects.toThrow(/already ended/);
    await expect(d.cancel(999)).rejects.toThrow(/not found/);
  });

  it('ignores results for attempts of other nodes', async () => {
    const { d, connect, result } = await setup();
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['true'] } }]);
    const l1 = await connect('n1', { pull: 1 });
    const l2 = await connect('n2', { pull: 0 });
    const assign = l1.of('assign')[0]!;
    await result('n2', l2, assign.attemptId, job!.id);
    expect((await d.getJob(job!.id)).state).toBe('running');
    expect(d.staleResults).toBe(1);
  });
});

describe('Dispatcher: agents come and go', () => {
  it("refuses a bad token, another node's token, and a protocol mismatch", async () => {
    const { d } = await setup();
    const node = { name: 'n1', cpus: 1, memoryMb: 1, arch: 'x64', platform: 'linux', agentVersion: '0', bootId: 'b' };
    expect(d.agentHello({ type: 'hello', protocol: PROTOCOL_VERSION, token: 'nope', node, running: [] }, new FakeLink())).toMatchObject({
      ok: false,
      code: 'BAD_TOKEN',
    });
    expect(d.agentHello({ type: 'hello', protocol: PROTOCOL_VERSION, token: deriveNodeToken(SECRET, 'n2'), node, running: [] }, new FakeLink())).toMatchObject({
      ok: false,
      code: 'BAD_TOKEN',
    });
    expect(d.agentHello({ type: 'hello', protocol: 99, token: deriveNodeToken(SECRET, 'n1'), node, running: [] }, new FakeLink())).toMatchObject({
      ok: false,
      code: 'PROTOCOL_VERSION',
      message: expect.stringContaining('upgrade the master'),
    });
  });

  it('declares a silent node lost after the missed heartbeats and requeues its jobs elsewhere', async () => {
    const { d, connect, clock } = await setup();
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }]);
    const l1 = await connect('n1', { pull: 1 });
    const first = l1.of('assign')[0]!;
    const l2 = await connect('n2', { pull: 1 });
    clock.advance(2999);
    d.agentMessage('n2', l2, { type: 'heartbeat', health: {}, running: [] });
    await d.idle();
    d.tick();
    await d.idle();
    expect(d.getNode('n1').state).toBe('online');
    clock.advance(1);
    d.tick();
    await d.idle();
    expect(d.getNode('n1').state).toBe('lost');
    expect(l1.closed).toBeDefined();
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'queued', reason: 'node-lost' });
    clock.advance(100);
    d.tick();
    await d.idle();
    const second = l2.of('assign')[0]!;
    expect(second).toMatchObject({ jobId: job!.id });
    expect(second.attemptId).toBeGreaterThan(first.attemptId);
    expect((await d.nodeEvents('n1')).map((e) => e.to).filter(Boolean)).toEqual(['lost', 'online']);
  });

  it('a reconnect on the same boot keeps running attempts, abandons unknown ones, and fails those whose result never comes', async () => {
    const { d, connect, clock, result } = await setup();
    const [a, b] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }, { spec: { kind: 'exec', argv: ['b'] } }]);
    const l1 = await connect('n1');
    const [x, y] = l1.of('assign');
    d.agentDisconnected('n1', l1, false);
    await d.idle();
    expect(d.getNode('n1').state).toBe('suspect');
    const l2 = await connect('n1', { running: [x!.attemptId, 12345], pull: 0 });
    expect(l2.of('welcome')[0]!.abandon).toEqual([12345]);
    expect(d.getNode('n1')).toMatchObject({ state: 'busy', connected: true, running: 2 });
    // y's result is resent after welcome: accepted
    await result('n1', l2, y!.attemptId, b!.id);
    expect((await d.getJob(b!.id)).state).toBe('succeeded');
    expect((await d.getJob(a!.id)).state).toBe('running');
    // an attempt the agent no longer has and never reports fails after the grace
    d.agentDisconnected('n1', l2, false);
    await d.idle();
    const l3 = await connect('n1', { running: [], pull: 0 });
    clock.advance(3000);
    d.agentMessage('n1', l3, { type: 'heartbeat', health: {}, running: [] });
    await d.idle();
    d.tick();
    await d.idle();
    expect(await d.getJob(a!.id)).toMatchObject({ state: 'queued', reason: 'agent restarted without a result' });
  });

  it('a node that comes back with a new boot id starts fresh: its attempts are requeued', async () => {
    const { d, connect } = await setup();
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }]);
    const l1 = await connect('n1', { bootId: 'boot-1', pull: 1 });
    const first = l1.of('assign')[0]!;
    const l2 = await connect('n1', { bootId: 'boot-2', running: [first.attemptId], pull: 1 });
    expect(l1.closed?.code).toBe(4002);
    expect(l2.of('welcome')[0]!.abandon).toEqual([first.attemptId]);
    expect(d.getNode('n1').boots).toBe(2);
    expect((await d.getJob(job!.id)).attempts).toBe(1);
  });

  it('after a master restart, running attempts wait for their agents, or are requeued after the grace', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const first = await setup(store, clock);
    const [a, b] = await first.d.submit([{ spec: { kind: 'exec', argv: ['a'] } }, { spec: { kind: 'exec', argv: ['b'] } }]);
    const l1 = await first.connect('n1', { pull: 1 });
    const l2 = await first.connect('n2', { pull: 1 });
    const [xa] = l1.of('assign');
    const [xb] = l2.of('assign');
    // master dies; a new one starts on the same store
    const second = await setup(store, clock);
    expect(second.d.getNode('n1').state).toBe('suspect');
    const back = await second.connect('n1', { running: [xa!.attemptId], pull: 0 });
    await second.result('n1', back, xa!.attemptId, a!.id);
    expect((await second.d.getJob(a!.id)).state).toBe('succeeded');
    clock.advance(5000);
    second.d.tick();
    await second.d.idle();
    expect(await second.d.getJob(b!.id)).toMatchObject({ state: 'queued', reason: 'node-lost' });
    expect(xb).toBeDefined();
  });

  it('patching slots tells the agent; labels steer requirements', async () => {
    const { d, connect } = await setup();
    const link = await connect('n1', { pull: 0 });
    d.patchNode('n1', { slots: 1, labels: { gpu: 'yes' } });
    await d.idle();
    expect(link.of('set-slots')).toEqual([{ type: 'set-slots', slots: 1 }]);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] }, requirements: { labels: { gpu: 'yes' } } }]);
    d.agentMessage('n1', link, { type: 'pull', slots: 4 });
    await d.idle();
    expect(link.of('assign').map((a) => a.jobId)).toEqual([job!.id]);
    expect((await d.nodeEvents('n1'))[0]).toMatchObject({ kind: 'patch', message: 'slots=1 labels=gpu=yes' });
  });

  it('seeds inventory nodes as offline and joins boot events to them by MAC', async () => {
    const inventory = buildInventory({ nodes: [{ name: 'node6.lan', mac: 'b8:27:eb:10:00:06', model: 'pi3b+' }] });
    const d = await startWithInventory(inventory);
    expect(d.getNode('node6.lan')).toMatchObject({ state: 'offline', slots: 4, model: 'pi3b+', mac: 'b8:27:eb:10:00:06' });
    d.recordBootEvent({ kind: 'dhcp-discover', at: 1, mac: 'b8:27:eb:10:00:06', outcome: 'answered' });
    await d.idle();
    expect(await d.bootEvents({ node: 'node6.lan' })).toHaveLength(1);
  });

  it('joins IP-only netboot events (HTTP fetches, unprefixed TFTP) to the node whose DHCP REQUEST named that IP', async () => {
    const inventory = buildInventory({ nodes: [{ name: 'x86', mac: '52:54:00:00:00:01', model: 'x86-64' }] });
    const d = await startWithInventory(inventory);
    d.recordBootEvent({ kind: 'tftp-transfer', at: 1, ip: '10.213.40.101', outcome: 'complete', detail: { file: 'undionly.kpxe' } }); // before any REQUEST: unknown
    await d.idle();
    d.recordBootEvent({ kind: 'dhcp-ignored', at: 2, mac: '52:54:00:00:00:01', ip: '10.213.40.101', outcome: 'ignored', reason: 'request-for-other-server' });
    await d.idle();
    d.recordBootEvent({ kind: 'http-fetch', at: 3, ip: '10.213.40.101', outcome: 'complete', detail: { file: 'amd64/vmlinuz' } });
    await d.idle();
    d.recordBootEvent({ kind: 'http-fetch', at: 4, ip: '10.213.40.199', outcome: 'complete', detail: { file: 'amd64/vmlinuz' } });
    await d.idle();
    const timeline = await d.bootEvents({ node: 'x86' });
    expect(timeline.map((e) => [e.kind, e.detail?.file ?? e.reason])).toEqual(
      expect.arrayContaining([
        ['dhcp-ignored', 'request-for-other-server'],
        ['http-fetch', 'amd64/vmlinuz'],
      ]),
    );
    expect(timeline).toHaveLength(2);
    expect(timeline.find((e) => e.kind === 'http-fetch')).toMatchObject({ mac: '52:54:00:00:00:01', ip: '10.213.40.101' });
  });
});

describe('Dispatcher: review regressions', () => {
  it('a throwing event listener neither breaks a commit nor loses the ack', async () => {
    const { d, connect, result } = await setup();
    d.on('job', () => {
      throw new Error('listener bug');
    });
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    const link = await connect('n1', { pull: 1 });
    const a = link.of('assign')[0]!;
    await result('n1', link, a.attemptId, job!.id);
    expect(link.of('result-ack')).toHaveLength(1);
    expect((await d.getJob(job!.id)).state).toBe('succeeded');
  });

  it('a failed commit acks nothing, resyncs from the store, and the resent result is accepted', async () => {
    const store = new MemoryStore();
    const { d, connect, result } = await setup(store);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    const link = await connect('n1', { pull: 1 });
    const a = link.of('assign')[0]!;
    const real = store.endAttempt.bind(store);
    let fail = true;
    store.endAttempt = (end) => {
      if (fail) throw new Error('SQLITE_FULL');
      return real(end);
    };
    await result('n1', link, a.attemptId, job!.id);
    expect(link.of('result-ack')).toHaveLength(0);
    expect(link.closed?.code).toBe(4004);
    expect((await d.getJob(job!.id)).state).toBe('running');
    fail = false;
    d.agentDisconnected('n1', link, false);
    await d.idle();
    const again = await connect('n1', { running: [], pull: 0 });
    await result('n1', again, a.attemptId, job!.id);
    expect(again.of('result-ack')).toHaveLength(1);
    expect((await d.getJob(job!.id)).state).toBe('succeeded');
    expect(d.staleResults).toBe(0);
  });

  it('starts with a node in maintenance that had running attempts, and fails them when it stays silent', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const first = await setup(store, clock);
    const [job] = await first.d.submit([{ spec: { kind: 'exec', argv: ['x'] }, retries: 2 }]);
    await first.connect('n1', { pull: 1 });
    first.d.setMaintenance('n1', true);
    await first.d.idle();
    const second = await setup(store, clock); // master restart
    expect(second.d.getNode('n1').state).toBe('maintenance');
    clock.advance(5000);
    second.d.tick();
    await second.d.idle();
    expect(await second.d.getJob(job!.id)).toMatchObject({ state: 'queued', reason: 'no heartbeat while maintenance' });
  });

  it('resends a cancel asked while the agent was away', async () => {
    const { d, connect } = await setup();
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '999'] } }]);
    const l1 = await connect('n1', { pull: 1 });
    const a = l1.of('assign')[0]!;
    d.agentDisconnected('n1', l1, false);
    await d.idle();
    await d.cancel(job!.id);
    const l2 = await connect('n1', { running: [a.attemptId], pull: 0 });
    expect(l2.of('cancel')).toEqual([{ type: 'cancel', attemptId: a.attemptId, reason: 'cancelled' }]);
  });

  it('an assign lost in flight is abandoned, not counted as a try or a node loss', async () => {
    const { d, connect, clock } = await setup(undefined, undefined, { defaultRetries: 0 });
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = await connect('n1', { pull: 1 });
    d.agentDisconnected('n1', l1, false);
    await d.idle();
    const l2 = await connect('n1', { running: [], pull: 0 }); // it never got the assign
    clock.advance(3000);
    d.agentMessage('n1', l2, { type: 'heartbeat', health: {}, running: [] });
    await d.idle();
    d.tick();
    await d.idle();
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'queued', nodeLosses: 0, abandons: 1 });
    d.agentMessage('n1', l2, { type: 'pull', slots: 1 });
    await d.idle();
    expect(l2.of('assign')).toHaveLength(1); // retried even with retries: 0
  });

  it('a drain outlives a disconnect', async () => {
    const { d, connect } = await setup();
    const l1 = await connect('n1', { pull: 0 });
    d.drain('n1');
    await d.idle();
    d.agentDisconnected('n1', l1, false);
    await d.idle();
    await connect('n1', { pull: 2 });
    expect(d.getNode('n1').state).toBe('drained');
    await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    expect(d.getNode('n1').running).toBe(0);
    expect(d.undrain('n1').state).toMatch(/online|busy/);
  });

  it('a throw while applying a committed pump: memory is rebuilt from the store, the agent reconnects, and the job still runs', async () => {
    const { d, connect, clock } = await setup();
    const link = await connect('n1', { pull: 1 });
    // the pump that hands the job out throws (the one before it only inserted the submit)
    const apply = Assignment.prototype.apply;
    const spy = vi.spyOn(Assignment.prototype, 'apply').mockImplementation(function (this: Assignment, handOut, ...rest) {
      if (handOut.length === 0) return apply.call(this, handOut, ...rest);
      spy.mockRestore();
      throw new Error('bug: illegal transition');
    });
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    await d.idle();
    // the hand-out committed but its assign never went out: the link is closed so the agent says what it runs
    expect(link.closed?.code).toBe(CloseCode.lost);
    expect(link.of('assign')).toEqual([]);
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'running', attempts: 1 });
    d.agentDisconnected('n1', link, false);
    const again = await connect('n1', { pull: 1 });
    // its hello lacks the attempt: an orphan, given up a lost-interval later; the job runs again
    clock.advance(2000);
    d.agentMessage('n1', again, { type: 'heartbeat', health: {}, running: [] });
    clock.advance(1001);
    d.tick();
    await d.idle();
    expect(again.of('assign').map((a) => a.jobId)).toEqual([job!.id]);
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'running', attempts: 2 });
  });

  it('a node removed while the store refused the delete, then added again, is not deleted by the kept write', async () => {
    class RefusesDelete extends MemoryStore {
      refuse = true;
      override deleteNode(name: string): boolean {
        if (this.refuse) throw new Error('SQLITE_FULL: database or disk is full');
        return super.deleteNode(name);
      }
    }
    const store = new RefusesDelete();
    const { d } = await setup(store);
    d.addNode({ name: 'n1' });
    await d.idle();
    d.removeNode('n1');
    await d.idle();
    expect(store.getNode('n1')).toBeDefined(); // the delete was refused and kept
    d.addNode({ name: 'n1' });
    await d.idle();
    store.refuse = false;
    d.tick(); // retries the kept writes
    await d.idle();
    expect(store.getNode('n1')).toBeDefined();
    expect(d.getNode('n1').name).toBe('n1');
  });

  it("a resync that rebuilds a removed node's running attempt does not write the node back", async () => {
    const store = new MemoryStore();
    const { d, connect } = await setup(store);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }]);
    const link = await connect('n1', { pull: 1 });
    expect(link.of('assign')).toHaveLength(1);
    const real = store.endAttempt.bind(store);
    let fail = true;
    let refused = 0;
    store.endAttempt = (end) => {
      if (fail) throw new Error(`SQLITE_FULL ${++refused}`);
      return real(end);
    };
    d.removeNode('n1'); // its attempt's end is refused: the resync finds it running on n1 again
    await d.idle();
    expect(store.getNode('n1')).toBeUndefined();
    expect(refused).toBe(1); // tried again by the pump the tick asks for, not in a loop of pumps
    d.tick();
    await d.idle();
    expect(refused).toBe(2);
    fail = false;
    d.tick();
    await d.idle();
    expect(store.getNode('n1')).toBeUndefined();
    expect((await d.getJob(job!.id)).state).toBe('queued');
    expect(() => d.getNode('n1')).toThrow(/n1/); // the node the resync rebuilt left the view again
  });

  it('a removed node stays removed across a restart though the inventory lists it: left out, its agent refused until it is added again', async () => {
    const store = new MemoryStore();
    const inventory = buildInventory({ nodes: [{ name: 'n1', mac: 'b8:27:eb:10:00:01', model: 'pi3b+' }] });
    const boot = () => startWithInventory(inventory, store);
    const first = await boot();
    first.removeNode('n1');
    await first.idle();
    const d = await boot();
    expect(() => d.getNode('n1')).toThrow(/n1/);
    expect(store.getNode('n1')).toBeUndefined();
    const node = { name: 'n1', cpus: 1, memoryMb: 1, arch: 'arm64', platform: 'linux', agentVersion: '0', bootId: 'b' };
    const hello = () => d.agentHello({ type: 'hello', protocol: PROTOCOL_VERSION, token: deriveNodeToken(SECRET, 'n1'), node, running: [] }, new FakeLink());
    expect(hello()).toMatchObject({ ok: false, code: 'NODE_REMOVED' });
    d.addNode({ name: 'n1' });
    await d.idle();
    expect(hello()).toMatchObject({ ok: true });
    // added again: the inventory's entry fills in what the request left out, now and after a restart
    expect(d.getNode('n1')).toMatchObject({ mac: 'b8:27:eb:10:00:01', model: 'pi3b+' });
    const third = await boot();
    expect(third.getNode('n1')).toMatchObject({ mac: 'b8:27:eb:10:00:01', model: 'pi3b+' });
  });

  it("a start-up after a removal whose writes a crash cut short: the node's record and its running attempt are dropped, the job queued", async () => {
    class Crashy extends MemoryStore {
      refuse = false;
      override deleteNode(name: string): boolean {
        if (this.refuse) throw new Error('SQLITE_FULL: database or disk is full');
        return super.deleteNode(name);
      }
      override endAttempt(end: Parameters<MemoryStore['endAttempt']>[0]): ReturnType<MemoryStore['endAttempt']> {
        if (this.refuse) throw new Error('SQLITE_FULL: database or disk is full');
        return super.endAttempt(end);
      }
    }
    const store = new Crashy();
    const { d, connect } = await setup(store);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }]);
    const link = await connect('n1', { pull: 1 });
    expect(link.of('assign')).toHaveLength(1);
    store.refuse = true;
    d.removeNode('n1'); // the removal mark is written; the record's delete and the attempt's end are refused
    await d.idle();
    expect(await store.listRemovedNodes()).toContain('n1');
    expect(store.getNode('n1')).toBeDefined();
    expect((await store.runningAttempts()).map((a) => a.node)).toEqual(['n1']);
    // the master dies here (its kept writes die with it); it starts again on the same store
    store.refuse = false;
    const { d: again } = await setup(store);
    expect(() => again.getNode('n1')).toThrow(/n1/);
    again.tick(); // the abandoned attempt is committed by the tick's pump
    await again.idle();
    expect(store.getNode('n1')).toBeUndefined();
    expect(await store.runningAttempts()).toEqual([]);
    expect(await again.getJob(job!.id)).toMatchObject({ state: 'queued' });
  });

  it('a removed node cannot rejoin with its token until it is added again', async () => {
    const { d, connect } = await setup();
    await connect('n1', { pull: 0 });
    d.removeNode('n1');
    await d.idle();
    const node = { name: 'n1', cpus: 1, memoryMb: 1, arch: 'x64', platform: 'linux', agentVersion: '0', bootId: 'b' };
    expect(d.agentHello({ type: 'hello', protocol: PROTOCOL_VERSION, token: deriveNodeToken(SECRET, 'n1'), node, running: [] }, new FakeLink())).toMatchObject({
      ok: false,
      code: 'NODE_REMOVED',
    });
    d.addNode({ name: 'n1' });
    await d.idle();
    expect(d.agentHello({ type: 'hello', protocol: PROTOCOL_VERSION, token: deriveNodeToken(SECRET, 'n1'), node, running: [] }, new FakeLink())).toMatchObject({
      ok: true,
    });
  });
});
