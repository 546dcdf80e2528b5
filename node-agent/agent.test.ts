import { once } from 'node:events';
import { buildBootReport } from './boot-report.ts';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { CloseCode, type NodeIdentity } from '../common/protocol.ts';
import { Agent, type AgentEvents, type AgentOptions, type ReconnectTimer } from './agent.ts';
import { FakeDispatcher } from './fake-dispatcher.test-helper.ts';
import { isAlive } from './process-tree.ts';
import { Runner } from './runner.ts';
import { systemFiles } from './sources.ts';

const identity: NodeIdentity = {
  name: 'node6.lan',
  cpus: 4,
  memoryMb: 926,
  arch: 'arm64',
  platform: 'linux',
  agentVersion: '0.1.0',
  bootId: 'boot-1',
  mac: 'b8:27:eb:10:00:06',
};

let dir: string;
let server: FakeDispatcher;
const agents: Agent[] = [];
const pids: number[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'picluster-agent-test-'));
  await mkdir(join(dir, 'work'));
  server = await FakeDispatcher.start();
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await server.close();
  expect(server.invalid).toEqual([]);
  await rm(dir, { recursive: true, force: true });
});

function makeAgent(extra: Partial<AgentOptions> = {}): Agent {
  const agent = new Agent({
    url: server.url,
    token: 'tok-6',
    log: silentLogger(),
    identity: async () => identity,
    health: async () => ({ load1: 0.5 }),
    runner: new Runner({ workDir: join(dir, 'work'), nodeName: identity.name, log: silentLogger(), killGraceMs: 500, flushMs: 10 }),
    backoff: { baseMs: 10, capMs: 50, minMs: 5, random: () => 0.5 },
    ...extra,
  });
  agents.push(agent);
  return agent;
}

const event = <K extends keyof AgentEvents>(agent: Agent, name: K, timeoutMs = 10_000) =>
  once(agent as never, name, { signal: AbortSignal.timeout(timeoutMs) }) as Promise<AgentEvents[K]>;

/** A timer that never fires by itself: the test reads the delays and fires callbacks. */
function manualTimer(): ReconnectTimer & { pending: { fn: () => void; ms: number }[] } {
  const pending: { fn: () => void; ms: number }[] = [];
  return {
    pending,
    set: (fn, ms) => {
      const entry = { fn, ms };
      pending.push(entry);
      return entry;
    },
    clear: (h) => {
      const i = pending.indexOf(h as (typeof pending)[number]);
      if (i >= 0) pending.splice(i, 1);
    },
  };
}

const sh = (script: string) => ({ kind: 'exec' as const, argv: ['sh', '-c', script] });
const assign = (attemptId: number, script: string, extra: Record<string, unknown> = {}) => ({
  type: 'assign' as const,
  attemptId,
  jobId: attemptId * 10,
  spec: sh(script),
  outputLimitBytes: 4096,
  ...extra,
});

async function pidFrom(path: string): Promise<number> {
  await expect.poll(() => existsSync(path) && /^\d+\s*$/.test(readFileSync(path, 'utf8')), { timeout: 10_000, interval: 20 }).toBe(true);
  const pid = Number(readFileSync(path, 'utf8'));
  pids.push(pid);
  return pid;
}

describe('Agent', () => {
  it('says hello with version, token, identity and no running jobs; pulls its slots after welcome', async () => {
    const agent = makeAgent();
    const welcomed = event(agent, 'welcome');
    agent.start();
    const hello = await server.frame('hello');
    expect(hello).toMatchObject({ protocol: 1, token: 'tok-6', node: identity, running: [] });
    await welcomed;
    expect((await server.frame('pull')).slots).toBe(2);
    expect(await server.frame('heartbeat')).toMatchObject({ health: { load1: 0.5 }, running: [] });
  });

  it('runs an assigned job: streams output, sends the result, frees the slot, drops it on ack', async () => {
    const agent = makeAgent();
    agent.start();
    await server.frame('pull');
    server.send(0, assign(1, 'echo hello; echo oops >&2; exit 0'));
    const result = (await server.frame('result')).result;
    expect(result).toMatchObject({ attemptId: 1, jobId: 10, outcome: 'succeeded', exitCode: 0, stdout: 'hello\n', stderr: 'oops\n' });
    expect(server.of('output').map((o) => [o.stream, o.data])).toEqual(
      expect.arrayContaining([
        ['stdout', 'hello\n'],
        ['stderr', 'oops\n'],
      ]),
    );
    // 2 credits after welcome, 1 consumed by the assign, 1 returned when the job finished
    await expect.poll(() => server.of('pull').map((p) => p.slots)).toEqual([2, 1]);
    expect(agent.stats().unacked).toEqual([1]);
    const acked = event(agent, 'result-acked');
    server.send(0, { type: 'result-ack', attemptId: 1 });
    await acked;
    expect(agent.stats().unacked).toEqual([]);
  });

  it('resends an unacked result after the connection drops, and not again once acked', async () => {
    const agent = makeAgent();
    agent.start();
    await server.frame('pull');
    server.send(0, assign(5, 'echo done'));
    await server.frame('result', (f) => f.conn === 0);
    server.conns[0]!.terminate(); // dropped before the dispatcher could ack
    const resent = await server.frame('result', (f) => f.conn === 1);
    expect(resent.result).toMatchObject({ attemptId: 5, outcome: 'succeeded', stdout: 'done\n' });
    expect(server.of('hello', (h) => h.conn === 1)[0]!.running).toEqual([]);
    const acked = event(agent, 'result-acked');
    server.send(1, { type: 'result-ack', attemptId: 5 });
    await acked;
    server.conns[1]!.close(CloseCode.shutdown, 'restart');
    await server.frame('pull', (f) => f.conn === 2);
    await server.frame('heartbeat', (f) => f.conn === 2);
    expect(server.of('result').map((r) => [r.conn, r.result.attemptId])).toEqual([
      [0, 5],
      [1, 5],
    ]);
  });

  const kmsgReport = (bootId: string) =>
    buildBootReport(
      [
        { level: 6, seq: 0, usec: 0, text: 'Booting Linux' },
        { level: 5, seq: 1, usec: 2_000_000, text: 'picluster-init: milestone=dhcp-lease ip=10.0.0.9' },
      ],
      bootId,
      1_700_000_000_000,
      0,
    );

  it("sends this boot's report once, after its first welcome, under the hello's boot id", async () => {
    const asked: string[] = [];
    const clock = new ManualClock();
    const agent = makeAgent({
      clock,
      stableAfterMs: 10_000,
      bootReport: (bootId, now) => {
        asked.push(bootId);
        expect(now).toBeGreaterThan(1_600_000_000_000); // the fake dispatcher's serverTime
        return kmsgReport(bootId);
      },
    });
    agent.start();
    // (polled: frames that arrive in one chunk are emitted in one tick)
    await expect.poll(() => server.of('boot-report').length).toBe(1);
    const report = server.of('boot-report')[0]!;
    expect(report).toMatchObject({ conn: 0, bootId: identity.bootId, bootedAt: 1_700_000_000_000 });
    expect(report.milestones.map((m) => m.step)).toEqual(['kernel-start', 'dhcp-lease']);
    // the link that carried it stayed up: delivered, not sent again after a reconnect
    clock.advance(10_000);
    server.conns[0]!.terminate();
    await expect.poll(() => server.of('heartbeat', (f) => f.conn === 1).length).toBeGreaterThan(0);
    expect(server.of('boot-report')).toHaveLength(1);
    expect(asked).toEqual([identity.bootId]);
    expect(server.invalid).toEqual([]);
  });

  it('sends the report again after a reconnect when the link that carried it dropped at once (it may not have arrived)', async () => {
    const clock = new ManualClock();
    const agent = makeAgent({ clock, stableAfterMs: 10_000, bootReport: kmsgReport });
    agent.start();
    await expect.poll(() => server.of('boot-report').length).toBe(1);
    clock.advance(9_000);
    server.conns[0]!.terminate();
    await expect.poll(() => server.of('boot-report').length).toBe(2);
    expect(server.of('boot-report').map((r) => [r.conn, r.bootId])).toEqual([
      [0, identity.bootId],
      [1, identity.bootId],
    ]);
    // the second link stays up long enough: no third copy
    clock.advance(10_000);
    server.conns[1]!.terminate();
    await expect.poll(() => server.of('heartbeat', (f) => f.conn === 2).length).toBeGreaterThan(0);
    expect(server.of('boot-report')).toHaveLength(2);
  });

  it('reports running attempts in heartbeats and in hello after a reconnect', async () => {
    server.onHello = () => ({ welcome: { heartbeatMs: 30 } });
    const agent = makeAgent();
    agent.start();
    await server.frame('pull');
    server.send(0, assign(7, `echo $$ > "${dir}/job.pid"; exec sleep 300`));
    await pidFrom(join(dir, 'job.pid'));
    await server.frame('heartbeat', (h) => h.running.includes(7));
    server.conns[0]!.terminate();
    expect((await server.frame('hello', (h) => h.conn === 1)).running).toEqual([7]);
    // 2 slots, 1 running → 1 credit on the new connection
    expect((await server.frame('pull', (p) => p.conn === 1)).slots).toBe(1);
    server.send(1, { type: 'cancel', attemptId: 7, reason: 'user' });
    expect((await server.frame('result')).result).toMatchObject({ attemptId: 7, outcome: 'cancelled' });
    await server.frame('heartbeat', (h) => h.conn === 1 && h.running.length === 0);
  });

  it('kills attempts the welcome abandons and does not report them', async () => {
    let abandon: number[] = [];
    server.onHello = () => ({ welcome: { abandon } });
    const agent = makeAgent();
    agent.start();
    await server.frame('pull');
    server.send(0, assign(9, `echo $$ > "${dir}/job.pid"; sleep 300 & echo $! > "${dir}/child.pid"; wait`));
    const leader = await pidFrom(join(dir, 'job.pid'));
    const child = await pidFrom(join(dir, 'child.pid'));
    abandon = [9];
    const finished = event(agent, 'job-finished');
    server.conns[0]!.terminate();
    expect((await server.frame('hello', (h) => h.conn === 1)).running).toEqual([9]);
    const [{ result, discarded }] = await finished;
    expect(result.attemptId).toBe(9);
    expect(discarded).toBe(true);
    await expect.poll(() => isAlive(leader), { timeout: 5000, interval: 20 }).toBe(false);
    await expect.poll(() => isAlive(child), { timeout: 5000, interval: 20 }).toBe(false);
    // the freed slot is pulled again, and no result for the abandoned attempt goes out
    await expect.poll(() => server.of('pull', (p) => p.conn === 1).reduce((n, p) => n + p.slots, 0)).toBe(2);
    expect(server.of('result')).toEqual([]);
    expect(agent.stats().unacked).toEqual([]);
  });

  it('rejects an assign beyond its slots with a clear reason', async () => {
    server.onHello = () => ({ welcome: { slots: 1 } });
    const agent = makeAgent();
    agent.start();
    expect((await server.frame('pull')).slots).toBe(1);
    server.send(0, assign(1, 'sleep 300'));
    await event(agent, 'job-started');
    server.send(0, assign(2, 'true'));
    const r = (await server.frame('result', (f) => f.result.attemptId === 2)).result;
    expect(r).toMatchObject({ outcome: 'rejected', error: 'no free slot on this node (1 running, 1 slots)' });
    server.send(0, { type: 'cancel', attemptId: 1, reason: 'cleanup' });
    await server.frame('result', (f) => f.result.attemptId === 1);
  });

  it('pulls the difference when set-slots raises the slots and nothing when it lowers them', async () => {
    server.onHello = () => ({ welcome: { slots: 1 } });
    const agent = makeAgent();
    agent.start();
    await server.frame('pull');
    let changed = event(agent, 'slots-changed');
    server.send(0, { type: 'set-slots', slots: 3 });
    await changed;
    await expect.poll(() => server.of('pull').map((p) => p.slots)).toEqual([1, 2]);
    changed = event(agent, 'slots-changed');
    server.send(0, { type: 'set-slots', slots: 1 });
    await changed;
    // two assigns use two of the three outstanding credits; finishing them must not pull (2 running > 1 slot)
    server.send(0, assign(1, 'true'));
    server.send(0, assign(2, 'true'));
    await server.frame('result', (f) => f.result.attemptId === 1);
    await server.frame('result', (f) => f.result.attemptId === 2);
    changed = event(agent, 'slots-changed');
    server.send(0, { type: 'set-slots', slots: 2 });
    await changed;
    // running 0 + credits 1 (left from before) → one more credit for 2 slots
    await expect.poll(() => server.of('pull').map((p) => p.slots)).toEqual([1, 2, 1]);
    expect(agent.stats().credits).toBe(2);
  });

  it('never sends a result frame larger than the limit (it would be refused and resent forever)', async () => {
    const agent = makeAgent({ maxResultFrameBytes: 4096 });
    agent.start();
    await server.frame('pull');
    server.send(0, {
      type: 'assign',
      attemptId: 8,
      jobId: 80,
      spec: { kind: 'function', source: 'export default () => "x".repeat(100000)' },
      outputLimitBytes: 4096,
    });
    const r = (await server.frame('result')).result;
    expect(r).toMatchObject({ attemptId: 8, outcome: 'failed', error: expect.stringMatching(/return value is 100002 bytes/) });
    expect(agent.stats().unacked).toEqual([8]);
  });

  it('caps the slots locally with slotsCap', async () => {
    server.onHello = () => ({ welcome: { slots: 8 } });
    const agent = makeAgent({ slotsCap: 3 });
    agent.start();
    expect((await server.frame('pull')).slots).toBe(3);
    expect(agent.slots).toBe(3);
  });

  it('logs and counts malformed frames, tells the dispatcher, and keeps working', async () => {
    const agent = makeAgent();
    agent.start();
    await server.frame('pull');
    const malformed = event(agent, 'malformed');
    server.send(0, '{not json');
    server.send(0, JSON.stringify({ type: 'launch', missiles: 2 }));
    server.send(0, JSON.stringify({ type: 'assign', attemptId: 0 }));
    await malformed;
    server.send(0, assign(3, 'echo still-alive'));
    expect((await server.frame('result')).result.stdout).toBe('still-alive\n');
    expect(agent.stats().malformedFrames).toBe(3);
    expect(server.of('event', (e) => e.kind === 'protocol').map((e) => e.message)).toEqual([
      expect.stringMatching(/not JSON/),
      expect.stringMatching(/unknown frame type "launch"/),
      expect.stringMatching(/invalid 'assign' frame/),
    ]);
  });

  it('backs off exponentially with jitter up to the cap while the dispatcher is unreachable', async () => {
    const probe = createServer();
    await once(probe.listen(0, '127.0.0.1'), 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const timer = manualTimer();
    const agent = makeAgent({
      url: `ws://127.0.0.1:${port}/agent`,
      reconnectTimer: timer,
      backoff: { baseMs: 250, capMs: 10_000, minMs: 50, random: () => 1 },
    });
    const delays: number[] = [];
    agent.on('reconnect-scheduled', ({ delayMs }) => delays.push(delayMs));
    agent.start();
    for (let i = 0; i < 8; i++) {
      await event(agent, 'reconnect-scheduled');
      expect(timer.pending).toHaveLength(1);
      timer.pending.shift()!.fn();
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('draws reconnect delays from the whole jitter range', async () => {
    const timer = manualTimer();
    const draws = [0, 0.5, 0.25];
    const agent = makeAgent({
      url: 'ws://127.0.0.1:1/agent',
      reconnectTimer: timer,
      backoff: { baseMs: 1000, capMs: 10_000, minMs: 0, random: () => draws.shift() ?? 0 },
    });
    agent.start();
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [{ delayMs }] = await event(agent, 'reconnect-scheduled');
      delays.push(delayMs);
      timer.pending.shift()!.fn();
    }
    expect(delays).toEqual([0, 1000, 1000]);
  });

  it('backs off long after a refusal instead of retrying fast', async () => {
    server.onHello = (_h, conn) => {
      server.send(conn, { type: 'refused', code: 'BAD_TOKEN', message: 'token does not match node6.lan' });
      server.conns[conn]!.close(CloseCode.refused, 'refused');
      return { welcome: false };
    };
    const timer = manualTimer();
    const agent = makeAgent({ reconnectTimer: timer, refusedBackoffMs: 60_000 });
    const refused = event(agent, 'refused');
    const scheduled = event(agent, 'reconnect-scheduled');
    agent.start();
    expect((await refused)[0]).toEqual({ code: 'BAD_TOKEN', message: 'token does not match node6.lan' });
    const [{ delayMs, reason }] = await scheduled;
    expect(reason).toBe('refused');
    expect(delayMs).toBeGreaterThanOrEqual(45_000);
    expect(timer.pending.map((p) => p.ms)).toEqual([delayMs]);
    expect(server.conns).toHaveLength(1);
  });

  it('resets the backoff only after a connection stayed up', async () => {
    const clock = new ManualClock();
    const timer = manualTimer();
    const agent = makeAgent({ clock, reconnectTimer: timer, stableAfterMs: 10_000, backoff: { baseMs: 100, capMs: 10_000, minMs: 0, random: () => 1 } });
    const delays: number[] = [];
    agent.on('reconnect-scheduled', ({ delayMs }) => delays.push(delayMs));
    agent.start();
    for (let conn = 0; conn < 3; conn++) {
      await server.frame('pull', (p) => p.conn === conn);
      if (conn === 2) clock.advance(10_000);
      const scheduled = event(agent, 'reconnect-scheduled');
      server.conns[conn]!.terminate();
      await scheduled;
      timer.pending.shift()!.fn();
    }
    // two quick drops back off further; a drop after a stable connection starts over
    expect(delays).toEqual([100, 200, 100]);
  });

  it('drops a silent dispatcher (no pong, no frames) and reconnects', async () => {
    await server.close();
    server = await FakeDispatcher.start({ autoPong: false });
    server.onHello = () => ({ welcome: { heartbeatMs: 20 } });
    const clock = new ManualClock();
    const agent = makeAgent({ url: server.url, clock });
    agent.start();
    await server.frame('heartbeat');
    const seen: string[] = [];
    agent.on('heartbeat-sent', () => seen.push('heartbeat'));
    const disconnected = event(agent, 'disconnected').then(() => seen.push('disconnected'));
    clock.advance(60_000);
    await disconnected;
    await server.frame('hello', (h) => h.conn === 1);
    // the tick right after the jump came late (this process looked starved): it only sent its
    // heartbeat; the next one judged the dispatcher silent
    expect(seen.slice(0, 2)).toEqual(['heartbeat', 'disconnected']);
  });

  it('runs the configured reboot command and reports it', async () => {
    const marker = join(dir, 'rebooted');
    const agent = makeAgent({ rebootCommand: ['sh', '-c', `echo yes > "${marker}"`] });
    agent.start();
    await server.frame('pull');
    const done = event(agent, 'command');
    server.send(0, { type: 'command', command: 'reboot' });
    expect((await done)[0]).toMatchObject({ command: 'reboot', ok: true });
    expect(readFileSync(marker, 'utf8')).toBe('yes\n');
    await server.frame('event', (e) => e.kind === 'command' && /reboot: exit code 0/.test(e.message));
  });

  it('identify blinks the ACT LED and restores its trigger', async () => {
    const leds = join(dir, 'leds');
    await mkdir(join(leds, 'ACT'), { recursive: true });
    await writeFile(join(leds, 'ACT', 'trigger'), 'none rc-feedback [mmc0] timer heartbeat\n');
    const agent = makeAgent({ ledsDir: leds, files: systemFiles });
    agent.start();
    await server.frame('pull');
    const done = event(agent, 'command');
    server.send(0, { type: 'command', command: 'identify', args: { seconds: 0.01 } });
    expect((await done)[0]).toMatchObject({ command: 'identify', ok: true });
    expect(readFileSync(join(leds, 'ACT', 'delay_on'), 'utf8')).toBe('100');
    expect(readFileSync(join(leds, 'ACT', 'trigger'), 'utf8')).toBe('mmc0');
  });

  it('identify without an LED only logs and says so', async () => {
    const agent = makeAgent({ ledsDir: join(dir, 'no-leds'), files: systemFiles });
    agent.start();
    await server.frame('pull');
    const done = event(agent, 'command');
    server.send(0, { type: 'command', command: 'identify', args: { seconds: 0 } });
    expect((await done)[0]).toMatchObject({ ok: false, detail: 'no ACT or led0 LED on this node' });
  });

  it('pets the watchdog and writes the magic close on a clean stop', async () => {
    const wd = join(dir, 'watchdog');
    await writeFile(wd, '');
    const agent = makeAgent({ watchdog: { path: wd, intervalMs: 10 } });
    agent.start();
    for (let i = 0; i < 3; i++) await event(agent, 'watchdog-pet');
    await agent.stop();
    expect(readFileSync(wd, 'utf8')).toMatch(/^\.{3,}V$/);
  });

  it('fails to start when the watchdog cannot be opened', () => {
    const agent = makeAgent({ watchdog: { path: join(dir, 'missing', 'watchdog') } });
    expect(() => agent.start()).toThrow(/ENOENT/);
  });

  it('kills running jobs on stop', async () => {
    const agent = makeAgent();
    agent.start();
    await server.frame('pull');
    server.send(0, assign(4, `echo $$ > "${dir}/job.pid"; exec sleep 300`));
    const pid = await pidFrom(join(dir, 'job.pid'));
    await agent.stop();
    await expect.poll(() => isAlive(pid), { timeout: 5000, interval: 20 }).toBe(false);
    expect(agent.stats().running).toEqual([]);
  });
});
