/**
 * The pump awaits its one transaction: events that arrive while the commit is pending (a result,
 * a disconnect, a cancel, a failing commit) must keep exactly-once. The commit is held open by a
 * gate the test releases, on SQLite (real rollback, reads wait for the commit) and on a store
 * that answers reads at once with uncommitted state (harsher than PostgreSQL's read committed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { CloseCode, PROTOCOL_VERSION, type DispatcherMessage } from '../../common/protocol.ts';
import { deriveNodeToken } from '../../common/tokens.ts';
import { Dispatcher } from '../dispatcher.ts';
import { Assignment } from './assignment.ts';
import { Results } from './results.ts';
import type { AgentLink } from '../node-runtime.ts';
import { asyncStore } from '../store/async-adapter.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { AsyncStore, Store } from '../store/store.ts';

const SECRET = 'interleave-secret-0123456789';

class FakeLink implements AgentLink {
  sent: DispatcherMessage[] = [];
  closed: number | undefined;
  send(m: DispatcherMessage): void {
    this.sent.push(m);
  }
  close(code: number): void {
    this.closed = code;
  }
  /** As the ws link: closing once the dispatcher closed it (frames still arriving are ignored). */
  get open(): boolean {
    return this.closed === undefined;
  }
  of<T extends DispatcherMessage['type']>(type: T): Extract<DispatcherMessage, { type: T }>[] {
    return this.sent.filter((m): m is Extract<DispatcherMessage, { type: T }> => m.type === type);
  }
}

/** Holds each transaction open after its body ran, until `release()`; `fail` makes the held commit throw (rolled back). */
class Gate {
  held = false;
  fail = false;
  inFlight = 0;
  maxInFlight = 0;
  commits = 0;
  private waiting: (() => void)[] = [];
  private opened: (() => void)[] = [];
  hold(): void {
    this.held = true;
  }
  release(): void {
    this.held = false;
    for (const w of this.waiting.splice(0)) w();
  }
  /** Resolves once a transaction is being held. */
  opening(): Promise<void> {
    return new Promise((r) => this.opened.push(r));
  }
  async pass(): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.held) {
        for (const o of this.opened.splice(0)) o();
        await new Promise<void>((r) => this.waiting.push(r));
      }
      if (this.fail) {
        this.fail = false;
        throw new Error('SQLITE_IOERR: disk I/O error');
      }
      this.commits++;
    } finally {
      this.inFlight--;
    }
  }
}

/** SQLite through the adapter: the transaction is held after its body, then committed or rolled back. */
function gatedSqlite(path: string, gate: Gate): AsyncStore {
  const base = asyncStore(new SqliteStore(path));
  return { ...base, transaction: (fn) => base.transaction(async (tx) => ((r) => gate.pass().then(() => r))(await fn(tx))) } as AsyncStore;
}

/** Reads and writes go straight to memory (uncommitted state is visible at once); no rollback. */
function dirtyMemory(mem: Store, gate: Gate): AsyncStore {
  const self: Record<string, unknown> = { kind: 'memory' };
  for (let p: object | null = mem; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) {
      const v = (mem as unknown as Record<string, unknown>)[n];
      if (n !== 'constructor' && n !== 'transaction' && typeof v === 'function' && !(n in self))
        self[n] = async (...a: unknown[]) => (v as (...x: unknown[]) => unknown).apply(mem, a);
    }
  }
  self.transaction = async (fn: (tx: AsyncStore) => Promise<unknown>) => {
    const r = await fn(self as unknown as AsyncStore);
    await gate.pass();
    return r;
  };
  return self as unknown as AsyncStore;
}

/** Holds the store's queuedJobs read (a resync's last read) once, until the returned release is called. */
function holdQueuedRead(target: AsyncStore): { held: Promise<void>; release: () => void } {
  const store = target as { -readonly [K in keyof AsyncStore]: AsyncStore[K] };
  const queued = store.queuedJobs.bind(store);
  let release!: () => void;
  let readHeld!: () => void;
  const held = new Promise<void>((r) => (readHeld = r));
  const gate = new Promise<void>((r) => (release = r));
  store.queuedJobs = async () => {
    store.queuedJobs = queued;
    readHeld();
    await gate;
    return queued();
  };
  return { held, release };
}

/** Resolves once the store has the job's cancel mark, and the cancel that marked it went on. */
async function marked(store: AsyncStore, jobId: number): Promise<void> {
  for (let i = 0; i < 100 && !(await store.getJob(jobId))?.cancelRequested; i++) await new Promise((r) => setImmediate(r));
  expect((await store.getJob(jobId))?.cancelRequested).toBe(true);
  await new Promise((r) => setImmediate(r));
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function setup(kind: 'sqlite' | 'dirty') {
  const gate = new Gate();
  const clock = new ManualClock();
  let store: AsyncStore;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-interleave-'));
    dirs.push(dir);
    store = gatedSqlite(join(dir, 'db.sqlite'), gate);
  } else store = dirtyMemory(new MemoryStore(), gate);
  const d = new Dispatcher({
    store,
    clock,
    log: silentLogger(),
    clusterSecret: SECRET,
    defer: (fn) => fn(),
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 1000,
      missedHeartbeats: 3,
      restartGraceMs: 1000,
      defaultRetries: 0,
      retryBackoffMs: 0,
      retryBackoffMaxMs: 0,
      outputLimitBytes: 1024,
    },
  });
  await d.start();
  const hello = (name: string, running: number[] = [], bootId = `boot-${name}`) => {
    const link = new FakeLink();
    const r = d.agentHello(
      {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: deriveNodeToken(SECRET, name),
        node: { name, cpus: 2, memoryMb: 512, arch: 'arm64', platform: 'linux', agentVersion: 't', bootId },
        running,
      },
      link,
    );
    expect(r.ok).toBe(true);
    return link;
  };
  const pull = (name: string, link: FakeLink, slots = 1) => d.agentMessage(name, link, { type: 'pull', slots });
  const result = (name: string, link: FakeLink, attemptId: number, jobId: number, outcome: 'succeeded' | 'cancelled' = 'succeeded') =>
    d.agentMessage(name, link, { type: 'result', result: { attemptId, jobId, outcome, exitCode: 0, startedAt: 0, durationMs: 1 } });
  return { d, gate, store, clock, hello, pull, result };
}

describe.each(['sqlite', 'dirty'] as const)('the pump across its await (%s)', (kind) => {
  it('a result arriving while a commit awaits waits for one follow-up pump; each result is recorded and acked once', async () => {
    const { d, gate, store, hello, pull, result } = await setup(kind);
    const [a, b] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }, { spec: { kind: 'exec', argv: ['b'] } }]);
    const link = hello('n1');
    pull('n1', link, 2);
    await d.idle();
    const [xa, xb] = link.of('assign');
    gate.hold();
    const opened = gate.opening();
    result('n1', link, xa!.attemptId, a!.id);
    await opened;
    // Meanwhile: B's result, and A's again (the agent resent it): pending, nothing acked yet.
    result('n1', link, xb!.attemptId, b!.id);
    result('n1', link, xa!.attemptId, a!.id);
    result('n1', link, xb!.attemptId, b!.id);
    expect(link.of('result-ack')).toHaveLength(0);
    const before = gate.commits;
    gate.release();
    await d.idle();
    expect(gate.maxInFlight).toBe(1);
    expect(gate.commits - before).toBe(2); // the held one, then one follow-up for the three that waited
    expect(link.of('result-ack').map((m) => m.attemptId)).toEqual([xa!.attemptId, xb!.attemptId, xa!.attemptId, xb!.attemptId]);
    expect((await d.getJob(a!.id)).state).toBe('succeeded');
    expect((await d.getJob(b!.id)).state).toBe('succeeded');
    expect(await store.listAttempts(a!.id)).toHaveLength(1);
    expect(await store.countStaleResults()).toBe(2);
    expect(d.staleResults).toBe(2);
    expect(d.getNode('n1')).toMatchObject({ jobsDone: 2, running: 0 });
  });

  it('an agent that disconnects while its assign is committed never gets it; the job is abandoned (not a try) and runs elsewhere once', async () => {
    const { d, gate, store, hello, pull } = await setup(kind);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = hello('n1');
    gate.hold();
    const opened = gate.opening();
    pull('n1', l1);
    await opened;
    d.agentDisconnected('n1', l1, false);
    gate.release();
    await d.idle();
    expect(l1.of('assign')).toHaveLength(0);
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'queued', attempts: 1, abandons: 1, nodeLosses: 0 });
    const l2 = hello('n2');
    pull('n2', l2);
    await d.idle();
    expect(l2.of('assign')).toHaveLength(1);
    const attempts = await store.listAttempts(job!.id);
    expect(attempts.map((x) => x.state)).toEqual(['abandoned', 'running']);
    expect(d.getNode('n1').running).toBe(0);
  });

  it('a cancel while the job is being handed out reaches the agent right after its assign, and the job ends cancelled', async () => {
    const { d, gate, hello, pull, result } = await setup(kind);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }]);
    const link = hello('n1');
    gate.hold();
    const opened = gate.opening();
    pull('n1', link);
    await opened;
    const cancelling = d.cancel(job!.id);
    gate.release();
    expect(await cancelling).toMatchObject({ state: 'running', cancelRequested: true });
    await d.idle();
    const kinds = link.sent.map((m) => m.type).filter((t) => t === 'assign' || t === 'cancel');
    expect(kinds).toEqual(['assign', 'cancel']);
    const assign = link.of('assign')[0]!;
    expect(link.of('cancel')[0]).toMatchObject({ attemptId: assign.attemptId });
    result('n1', link, assign.attemptId, job!.id, 'cancelled');
    await d.idle();
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'cancelled' });
  });

  it.each(['drained', 'removed'] as const)(
    'a node %s while a job is handed out to it never gets the assign; the job is abandoned (not a try) and runs elsewhere',
    async (what) => {
      const { d, gate, store, hello, pull } = await setup(kind);
      const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
      const l1 = hello('n1');
      gate.hold();
      const opened = gate.opening();
      pull('n1', l1);
      await opened;
      if (what === 'drained') d.drain('n1');
      else d.removeNode('n1');
      gate.release();
      await d.idle();
      expect(l1.of('assign')).toHaveLength(0);
      expect(await d.getJob(job!.id)).toMatchObject({ state: 'queued', attempts: 1, abandons: 1 });
      if (what === 'drained') expect(d.getNode('n1')).toMatchObject({ state: 'drained', running: 0 });
      const l2 = hello('n2');
      pull('n2', l2);
      await d.idle();
      expect(l2.of('assign')).toHaveLength(1);
      expect((await store.listAttempts(job!.id)).map((x) => x.state)).toEqual(['abandoned', 'running']);
    },
  );

  it('a cancel while the pump commits a retryable end (the job goes back to the queue) cancels it; it never runs again', async () => {
    const { d, gate, hello, pull } = await setup(kind);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = hello('n1');
    pull('n1', l1);
    await d.idle();
    expect(l1.of('assign')).toHaveLength(1);
    gate.hold();
    const opened = gate.opening();
    d.drain('n1', { immediate: true }); // the attempt ends abandoned: the job is requeued
    await opened;
    const cancelling = d.cancel(job!.id);
    gate.release();
    expect(await cancelling).toMatchObject({ state: 'cancelled' });
    await d.idle();
    const l2 = hello('n2');
    pull('n2', l2);
    await d.idle();
    expect(l2.of('assign')).toHaveLength(0);
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'cancelled' });
  });

  it('node failures during a held commit are committed by the follow-up, each attempt ended once', async () => {
    const { d, gate, store, hello, pull, result } = await setup(kind);
    const [a, b] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }, { spec: { kind: 'exec', argv: ['b'] } }]);
    const link = hello('n1');
    pull('n1', link, 2);
    await d.idle();
    const [xa, xb] = link.of('assign');
    gate.hold();
    const opened = gate.opening();
    result('n1', link, xa!.attemptId, a!.id);
    await opened;
    // An immediate drain while A's end is held: B is stopped and failed; A, claimed by the pump, is not touched.
    d.drain('n1', { immediate: true });
    expect(link.of('cancel').map((m) => m.attemptId)).toEqual([xb!.attemptId]);
    gate.release();
    await d.idle();
    expect((await d.getJob(a!.id)).state).toBe('succeeded');
    expect(await d.getJob(b!.id)).toMatchObject({ state: 'queued', abandons: 1 });
    expect((await store.listAttempts(a!.id)).map((x) => x.state)).toEqual(['succeeded']);
    expect((await store.listAttempts(b!.id)).map((x) => x.state)).toEqual(['abandoned']);
    expect(d.getNode('n1')).toMatchObject({ state: 'drained', running: 0 });
  });
});

describe('a commit that fails while events wait (sqlite: rolled back)', () => {
  it('acks nothing of its batch, resyncs, and still commits and acks what arrived meanwhile; the resent result is accepted once', async () => {
    const { d, gate, store, hello, pull, result } = await setup('sqlite');
    const [a, b] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }, { spec: { kind: 'exec', argv: ['b'] } }]);
    const l1 = hello('n1');
    const l2 = hello('n2');
    pull('n1', l1);
    pull('n2', l2);
    await d.idle();
    const xa = l1.of('assign')[0]!;
    const xb = l2.of('assign')[0]!;
    gate.hold();
    gate.fail = true;
    const opened = gate.opening();
    result('n1', l1, xa.attemptId, xa.jobId);
    await opened;
    result('n2', l2, xb.attemptId, xb.jobId);
    gate.release();
    await d.idle();
    expect(l1.of('result-ack')).toHaveLength(0);
    expect(l1.closed).toBe(4004);
    expect(l2.of('result-ack').map((m) => m.attemptId)).toEqual([xb.attemptId]);
    const jobA = await d.getJob(xa.jobId);
    expect(jobA.state).toBe('running');
    expect((await d.getJob(xb.jobId)).state).toBe('succeeded');
    d.agentDisconnected('n1', l1, false);
    const back = hello('n1', [xa.attemptId]);
    result('n1', back, xa.attemptId, xa.jobId);
    await d.idle();
    expect(back.of('result-ack')).toHaveLength(1);
    expect((await d.getJob(xa.jobId)).state).toBe('succeeded');
    expect(await store.listAttempts(xa.jobId)).toHaveLength(1);
    expect(d.staleResults).toBe(0);
    expect([a!.id, b!.id].sort()).toEqual([xa.jobId, xb.jobId].sort());
  });

  it('a resync that fails too (the store unreachable) is redone by the next pump before anything is claimed: the resent result is accepted, not stale', async () => {
    const { d, gate, store, hello, pull, result } = await setup('sqlite');
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }]);
    const l1 = hello('n1');
    pull('n1', l1);
    await d.idle();
    const x = l1.of('assign')[0]!;
    // the commit fails, and the resync's first read fails as well
    const reads = store as unknown as { runningAttempts: () => Promise<unknown> };
    const runningAttempts = reads.runningAttempts.bind(store);
    let failRead = true;
    reads.runningAttempts = async () => {
      if (failRead) {
        failRead = false;
        throw new Error('ECONNREFUSED');
      }
      return runningAttempts();
    };
    gate.fail = true;
    result('n1', l1, x.attemptId, job!.id);
    await d.idle();
    expect(l1.of('result-ack')).toHaveLength(0);
    expect(l1.closed).toBe(4004);
    // the store is back; the agent reconnects and resends its result
    d.agentDisconnected('n1', l1, false);
    const back = hello('n1', [x.attemptId]);
    result('n1', back, x.attemptId, job!.id);
    await d.idle();
    expect(back.of('result-ack').map((m) => m.attemptId)).toEqual([x.attemptId]);
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'succeeded' });
    expect((await store.listAttempts(job!.id)).map((a) => a.state)).toEqual(['succeeded']);
    expect(d.staleResults).toBe(0);
    expect(d.getNode('n1').running).toBe(0);
  });

  it("a cancel asked while a failed commit's resync reads the store reaches the agent of a closed link at its hello", async () => {
    const { d, gate, store, hello, pull, result } = await setup('sqlite');
    await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }, { spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = hello('n1');
    pull('n1', l1, 2);
    await d.idle();
    const [xj, xk] = l1.of('assign');
    const read = holdQueuedRead(store);
    gate.fail = true;
    result('n1', l1, xk!.attemptId, xk!.jobId); // its commit fails: l1 is closed, memory is rebuilt
    await read.held;
    const cancelled = d.cancel(xj!.jobId); // marked in the store after the resync read the running jobs
    await marked(store, xj!.jobId);
    read.release();
    expect(await cancelled).toMatchObject({ state: 'running', cancelRequested: true });
    await d.idle();
    d.agentDisconnected('n1', l1, false);
    const l2 = hello('n1', [xj!.attemptId, xk!.attemptId]);
    await d.idle();
    expect(l2.of('cancel').map((c) => c.attemptId)).toEqual([xj!.attemptId]);
  });

  it('a hello while memory is rebuilt abandons nothing; its link is closed after the rebuild, and the next hello reconciles', async () => {
    const { d, gate, store, hello, pull, result } = await setup('sqlite');
    await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }, { spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = hello('n1');
    pull('n1', l1, 2);
    await d.idle();
    const [xj, xk] = l1.of('assign');
    const read = holdQueuedRead(store);
    gate.fail = true;
    result('n1', l1, xk!.attemptId, xk!.jobId); // its commit fails: l1 is closed, memory is rebuilt
    await read.held;
    d.agentDisconnected('n1', l1, false);
    // the view being replaced lacks xk (its result was claimed): reconciled now, the agent would drop it
    const l2 = hello('n1', [xj!.attemptId, xk!.attemptId]);
    expect(l2.of('welcome')[0]!.abandon).toEqual([]);
    read.release();
    await d.idle();
    expect(l2.closed).toBe(CloseCode.lost);
    d.agentDisconnected('n1', l2, false);
    const l3 = hello('n1', [xj!.attemptId, xk!.attemptId]);
    expect(l3.of('welcome')[0]!.abandon).toEqual([]);
    result('n1', l3, xk!.attemptId, xk!.jobId); // resent after the welcome
    await d.idle();
    expect(l3.of('result-ack').map((a) => a.attemptId)).toEqual([xk!.attemptId]);
    expect((await d.getJob(xk!.jobId)).state).toBe('succeeded');
    expect(await d.getJob(xj!.jobId)).toMatchObject({ state: 'running', attempts: 1 });
    expect(d.getNode('n1').running).toBe(1);
  });

  it("a node failure whose commit fails is claimed again by the resync; its slot's credit is back, and the job goes out again on the agent's outstanding credit", async () => {
    const { d, gate, clock, hello, pull } = await setup('sqlite');
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = hello('n1');
    pull('n1', l1);
    await d.idle();
    d.agentDisconnected('n1', l1, false);
    const l2 = hello('n1'); // the agent lacks the attempt: an orphan, given up a lost-interval later
    pull('n1', l2, 2); // it asks for both its slots; the orphan holds one
    const [other] = await d.submit([{ spec: { kind: 'exec', argv: ['y'] } }]);
    await d.idle();
    expect(l2.of('assign').map((a) => a.jobId)).toEqual([other!.id]);
    clock.advance(2000);
    d.agentMessage('n1', l2, { type: 'heartbeat', health: {}, running: [] });
    clock.advance(1001);
    gate.fail = true;
    d.tick(); // the abandon's commit fails
    await d.idle();
    expect(l2.closed).toBeUndefined();
    expect(l2.of('assign')).toHaveLength(1);
    d.tick(); // the pump it asks for commits the abandon; the freed slot (the agent's second credit) takes the job again
    await d.idle();
    expect(l2.of('assign').map((a) => a.jobId)).toEqual([other!.id, job!.id]);
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'running', attempts: 2, abandons: 1 });
  });

  it('a node removed while a commit fails does not come back: the resync that rebuilds it drops it again', async () => {
    const { d, gate, store, hello, pull, result } = await setup('sqlite');
    const [a] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }]);
    const l1 = hello('n1');
    const l2 = hello('n2');
    pull('n1', l1);
    await d.idle();
    const x1 = l1.of('assign')[0]!;
    const [b] = await d.submit([{ spec: { kind: 'exec', argv: ['b'] } }]);
    pull('n2', l2);
    await d.idle();
    const x2 = l2.of('assign')[0]!;
    gate.hold();
    gate.fail = true;
    const opened = gate.opening();
    result('n2', l2, x2.attemptId, b!.id);
    await opened;
    d.removeNode('n1'); // its abandon is claimed while the commit is held; the commit then fails
    gate.release();
    await d.idle();
    expect(() => d.getNode('n1')).toThrow(/n1/);
    expect(await store.getNode('n1')).toBeUndefined();
    expect((await store.listAttempts(a!.id)).map((x) => x.state)).toEqual(['abandoned']);
    expect(x1.jobId).toBe(a!.id);
    // and its agent may not rejoin (the rebuilt node would have let it)
    const node = { name: 'n1', cpus: 2, memoryMb: 512, arch: 'arm64', platform: 'linux', agentVersion: 't', bootId: 'boot-n1' };
    const again = d.agentHello(
      { type: 'hello', protocol: PROTOCOL_VERSION, token: deriveNodeToken(SECRET, 'n1'), node, running: [x1.attemptId] },
      new FakeLink(),
    );
    expect(again).toMatchObject({ ok: false, code: 'NODE_REMOVED' });
  });

  it("a node removed while its result's commit fails is not rebuilt: the attempt the store still has running is abandoned", async () => {
    const { d, gate, store, hello, pull, result } = await setup('sqlite');
    const [a] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }]);
    const l1 = hello('n1');
    pull('n1', l1);
    await d.idle();
    const x1 = l1.of('assign')[0]!;
    gate.hold();
    gate.fail = true;
    const opened = gate.opening();
    result('n1', l1, x1.attemptId, a!.id);
    await opened;
    d.removeNode('n1'); // its attempt is in the held commit (a result), not among its running ones
    gate.release();
    await d.idle();
    expect(() => d.getNode('n1')).toThrow(/n1/);
    d.tick(); // the pump the tick asks for commits the abandon
    await d.idle();
    expect((await store.listAttempts(a!.id)).map((x) => x.state)).toEqual(['abandoned']);
    expect(await d.getJob(a!.id)).toMatchObject({ state: 'queued', abandons: 1 });
    expect(await store.getNode('n1')).toBeUndefined();
  });

  it('a rebooted agent whose hello comes while memory is rebuilt is closed after the rebuild and reconciled at its next hello', async () => {
    const { d, gate, store, clock, hello, pull, result } = await setup('sqlite');
    await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }, { spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = hello('n1');
    pull('n1', l1, 2);
    await d.idle();
    const [xj, xk] = l1.of('assign');
    const read = holdQueuedRead(store);
    gate.fail = true;
    result('n1', l1, xk!.attemptId, xk!.jobId); // its commit fails: the rebuilt view has xk running on n1
    await read.held;
    d.agentDisconnected('n1', l1, false);
    const l2 = hello('n1', [], 'boot-n1-again'); // ends the old boot's attempts of the view being replaced
    read.release();
    await d.idle();
    expect(l2.closed).toBe(CloseCode.lost);
    d.agentDisconnected('n1', l2, false);
    const l3 = hello('n1', [], 'boot-n1-again');
    // xk, which the rebuilt view has and the new boot lacks, is an orphan: given up a lost-interval later
    clock.advance(2000);
    d.agentMessage('n1', l3, { type: 'heartbeat', health: {}, running: [] });
    clock.advance(1001);
    d.tick();
    await d.idle();
    expect(d.getNode('n1').running).toBe(0); // nothing of the old boot stays running on n1
    expect(await d.getJob(xj!.jobId)).toMatchObject({ state: 'failed', nodeLosses: 1 }); // this suite: retries 0
    expect(await d.getJob(xk!.jobId)).toMatchObject({ state: 'queued', abandons: 1 });
  });

  it('a node failure claimed while a commit fails is ended once after the resync, and holds no slot', async () => {
    const { d, gate, store, hello, pull, result } = await setup('sqlite');
    const [a, b] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }, { spec: { kind: 'exec', argv: ['b'] } }]);
    const l1 = hello('n1');
    const l2 = hello('n2');
    pull('n1', l1);
    pull('n2', l2);
    await d.idle();
    const x1 = l1.of('assign')[0]!;
    const x2 = l2.of('assign')[0]!;
    gate.hold();
    gate.fail = true;
    const opened = gate.opening();
    result('n1', l1, x1.attemptId, x1.jobId);
    await opened;
    d.drain('n2', { immediate: true }); // claimed while the commit is held; the commit then fails
    gate.release();
    await d.idle();
    expect(d.getNode('n2')).toMatchObject({ state: 'drained', running: 0 });
    expect((await store.listAttempts(x2.jobId)).map((x) => x.state)).toEqual(['abandoned']);
    expect(await d.getJob(x2.jobId)).toMatchObject({ state: 'queued', abandons: 1 });
    expect([a!.id, b!.id].sort()).toEqual([x1.jobId, x2.jobId].sort());
  });
});

/** A commit that memory cannot apply (a bug, made here by a throwing apply): memory is rebuilt from the store. */
describe.each(['sqlite', 'dirty'] as const)('a committed pump that memory cannot apply (%s)', (kind) => {
  it('closes the new link of an agent that reconnected during the commit; its hello reconciles the attempt and the job runs once more', async () => {
    const { d, gate, store, clock, hello, pull } = await setup(kind);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = hello('n1');
    gate.hold();
    const opened = gate.opening();
    pull('n1', l1);
    await opened;
    d.agentDisconnected('n1', l1, false);
    const l2 = hello('n1');
    const spy = vi.spyOn(Assignment.prototype, 'apply').mockImplementationOnce(() => {
      throw new Error('bug: illegal transition');
    });
    gate.release();
    await d.idle();
    spy.mockRestore();
    expect(l2.closed).toBe(CloseCode.lost); // it lacks the committed attempt and would never hear of it
    const [other] = await d.submit([{ spec: { kind: 'exec', argv: ['y'] } }]);
    pull('n1', l2); // a pull on the link being closed gives no credit: an assign there would be lost
    await d.idle();
    expect(l2.of('assign')).toEqual([]);
    d.agentDisconnected('n1', l2, false);
    const l3 = hello('n1');
    pull('n1', l3, 2);
    await d.idle();
    expect(l3.of('assign').map((a) => a.jobId)).toEqual([other!.id]);
    clock.advance(2000);
    d.agentMessage('n1', l3, { type: 'heartbeat', health: {}, running: [] });
    clock.advance(1001);
    d.tick(); // the attempt its hello lacked is given up a lost-interval later; the job goes out again
    await d.idle();
    expect(l3.of('assign').map((a) => a.jobId)).toEqual([other!.id, job!.id]);
    expect((await store.listAttempts(job!.id)).map((a) => a.state)).toEqual(['abandoned', 'running']);
  });

  it('a cancel asked while memory is rebuilt waits for the rebuilt view and reaches the agent', async () => {
    const { d, store, hello, pull } = await setup(kind);
    const l1 = hello('n1');
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['sleep', '9'] } }]);
    // the resync's last read is held, so the cancel lands after the running attempts were read
    const read = holdQueuedRead(store);
    const spy = vi.spyOn(Assignment.prototype, 'apply').mockImplementationOnce(() => {
      throw new Error('bug: illegal transition');
    });
    pull('n1', l1);
    await read.held;
    spy.mockRestore();
    const cancelled = d.cancel(job!.id);
    await marked(store, job!.id); // the cancel has marked the store and went on while memory is rebuilt
    read.release();
    expect(await cancelled).toMatchObject({ state: 'running', cancelRequested: true });
    d.agentDisconnected('n1', l1, false);
    const l2 = hello(
      'n1',
      (await store.listAttempts(job!.id)).map((a) => a.id),
    );
    await d.idle();
    expect(l2.of('cancel').map((c) => c.attemptId)).toHaveLength(1);
  });

  it('a draining node whose last attempt ended in that commit is drained after the rebuild', async () => {
    const { d, hello, pull, result } = await setup(kind);
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['x'] } }]);
    const l1 = hello('n1');
    pull('n1', l1);
    await d.idle();
    const x = l1.of('assign')[0]!;
    d.drain('n1');
    expect(d.getNode('n1').state).toBe('draining');
    const spy = vi.spyOn(Results.prototype, 'apply').mockImplementationOnce(() => {
      throw new Error('bug: illegal transition');
    });
    result('n1', l1, x.attemptId, job!.id);
    await d.idle();
    spy.mockRestore();
    expect((await d.getJob(job!.id)).state).toBe('succeeded');
    expect(d.getNode('n1')).toMatchObject({ state: 'drained', running: 0 });
  });
});

describe.each(['sqlite', 'dirty'] as const)('submits share the pump commit (%s)', (kind) => {
  it("submits made while a commit is held are inserted by the next pump's one commit; each is answered with its own jobs only after it", async () => {
    const { d, gate, store } = await setup(kind);
    gate.hold();
    const opened = gate.opening();
    const answered: string[] = [];
    const first = d.submit([{ spec: { kind: 'exec', argv: ['a'] } }]).then((j) => (answered.push('first'), j));
    await opened;
    const second = d.submit([{ spec: { kind: 'exec', argv: ['b'] } }, { spec: { kind: 'exec', argv: ['c'] } }]).then((j) => (answered.push('second'), j));
    const third = d.submit([{ spec: { kind: 'exec', argv: ['d'] } }]).then((j) => (answered.push('third'), j));
    await new Promise((r) => setImmediate(r));
    expect(answered).toEqual([]); // the first's commit is held; the others wait for the next pump
    const commits = gate.commits;
    gate.release();
    const [[a], [b, c], [x]] = await Promise.all([first, second, third]);
    await d.idle();
    expect(gate.commits - commits).toBe(2); // the first's, then one for the second and third together
    expect(answered).toEqual(['first', 'second', 'third']);
    expect([a, b, c, x].map((j) => (j!.spec as { argv: string[] }).argv[0])).toEqual(['a', 'b', 'c', 'd']);
    expect([a, b, c, x].map((j) => j!.id)).toEqual([a!.id, a!.id + 1, a!.id + 2, a!.id + 3]);
    for (const j of [a, b, c, x]) expect(await store.getJob(j!.id)).toMatchObject({ state: 'queued', spec: j!.spec });
    expect(d.queueDepthByGroup().get('default')).toBe(4); // in memory too: queued for the next free slot
  });
});

describe.each(['sqlite', 'dirty'] as const)('a submit to a free slot (%s)', (kind) => {
  it('is started by the commit that inserts it: one commit, then the answer and the assign; jobs beyond the free slots are queued', async () => {
    const { d, gate, store, hello, pull } = await setup(kind);
    const link = hello('n1');
    pull('n1', link, 1);
    await d.idle();
    const commits = gate.commits;
    gate.hold();
    const opened = gate.opening();
    let answered = false;
    const submitted = d.submit([{ spec: { kind: 'exec', argv: ['a'] } }, { spec: { kind: 'exec', argv: ['b'] } }]).then((j) => ((answered = true), j));
    await opened;
    expect(link.of('assign')).toEqual([]);
    expect(answered).toBe(false);
    gate.release();
    const [a, b] = await submitted;
    await d.idle();
    expect(gate.commits - commits).toBe(1);
    expect(link.of('assign').map((m) => m.jobId)).toEqual([a!.id]);
    expect(await store.getJob(a!.id)).toMatchObject({ state: 'running', attempts: 1, node: 'n1' });
    expect(await store.getJob(b!.id)).toMatchObject({ state: 'queued' });
    expect(d.queueDepthByGroup().get('default')).toBe(1);
    // the queued one takes the next free slot
    pull('n1', link, 1);
    await d.idle();
    expect(link.of('assign').map((m) => m.jobId)).toEqual([a!.id, b!.id]);
  });
});

describe('a failed commit and the submits in it (sqlite)', () => {
  it("answers each of them with the error and queues none of their jobs (the slot one took is free again); the next submit's commit succeeds and its job runs", async () => {
    const { d, gate, store, hello, pull } = await setup('sqlite');
    const link = hello('n1');
    pull('n1', link, 1);
    await d.idle();
    gate.hold();
    const opened = gate.opening();
    const first = d.submit([{ spec: { kind: 'exec', argv: ['a'] } }]);
    await opened;
    const second = d.submit([{ spec: { kind: 'exec', argv: ['b'] } }]);
    gate.fail = true;
    gate.release();
    await expect(first).rejects.toThrow(/SQLITE_IOERR/);
    // the second waited for the next pump, whose commit succeeds
    const [b] = await second;
    await d.idle();
    expect((await store.listJobs({})).jobs.map((j) => j.id)).toEqual([b!.id]);
    expect(link.of('assign').map((m) => m.jobId)).toEqual([b!.id]);
  });
});

describe('a submit while the store is unreachable (sqlite)', () => {
  it('is answered with the error when the resync it waits behind fails, not left waiting; once the store is back a submit commits', async () => {
    const { d, gate, store, hello, pull, result } = await setup('sqlite');
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }]);
    const l1 = hello('n1');
    pull('n1', l1);
    await d.idle();
    const reads = store as unknown as { runningAttempts: () => Promise<unknown> };
    const runningAttempts = reads.runningAttempts.bind(store);
    let failReads = 2; // the failed commit's resync, then the one the submit's pump tries first
    reads.runningAttempts = async () => {
      if (failReads-- > 0) throw new Error('ECONNREFUSED');
      return runningAttempts();
    };
    gate.fail = true;
    result('n1', l1, l1.of('assign')[0]!.attemptId, job!.id);
    await d.idle();
    await expect(d.submit([{ spec: { kind: 'exec', argv: ['b'] } }])).rejects.toThrow(/ECONNREFUSED/);
    const [c] = await d.submit([{ spec: { kind: 'exec', argv: ['c'] } }]);
    expect((await store.listJobs({})).jobs.map((j) => j.id)).toEqual([c!.id, job!.id]);
  });
});

describe('a submit the shared commit must not suffer from (sqlite)', () => {
  it('a job the store cannot serialize fails its own submit (400, naming the field); a submit beside it commits', async () => {
    const { d, store } = await setup('sqlite');
    let deep: unknown = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const bad = d.submit([{ spec: { kind: 'exec', argv: ['x'], env: deep } as never }, { spec: { kind: 'exec', argv: ['y'] } }]);
    const good = d.submit([{ spec: { kind: 'exec', argv: ['z'] } }]);
    await expect(bad).rejects.toMatchObject({ code: 'VALIDATION_FAILED', problems: [{ path: '[0].spec' }] });
    const [z] = await good;
    expect((await store.listJobs({})).jobs.map((j) => j.id)).toEqual([z!.id]);
  });

  it('a throw before the commit (a bug in the hand-out) answers the submits it took with the error; the next pump commits', async () => {
    const { d, store } = await setup('sqlite');
    const spy = vi.spyOn(Assignment.prototype, 'handOut').mockImplementationOnce(() => {
      throw new Error('bug: hand-out');
    });
    await expect(d.submit([{ spec: { kind: 'exec', argv: ['a'] } }])).rejects.toThrow('bug: hand-out');
    spy.mockRestore();
    const [b] = await d.submit([{ spec: { kind: 'exec', argv: ['b'] } }]);
    expect((await store.listJobs({})).jobs.map((j) => j.id)).toEqual([b!.id]);
  });
});

describe('a throw in the hand-out after the batch was claimed (sqlite)', () => {
  it('loses no result: memory is rebuilt, the agent reconnects and resends, and the job ends once', async () => {
    const { d, store, hello, pull, result } = await setup('sqlite');
    const [job] = await d.submit([{ spec: { kind: 'exec', argv: ['a'] } }]);
    const link = hello('n1');
    pull('n1', link, 1);
    await d.idle();
    const x = link.of('assign')[0]!;
    const spy = vi.spyOn(Assignment.prototype, 'handOut').mockImplementationOnce(() => {
      throw new Error('bug: hand-out');
    });
    result('n1', link, x.attemptId, job!.id);
    await d.idle();
    spy.mockRestore();
    expect(link.of('result-ack')).toEqual([]);
    expect(link.closed).toBe(CloseCode.lost);
    expect(await store.getJob(job!.id)).toMatchObject({ state: 'running' });
    d.agentDisconnected('n1', link, false);
    const again = hello('n1', [x.attemptId]);
    result('n1', again, x.attemptId, job!.id);
    await d.idle();
    expect(again.of('result-ack').map((m) => m.attemptId)).toEqual([x.attemptId]);
    expect(await d.getJob(job!.id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(d.staleResults).toBe(0);
    expect(d.getNode('n1').running).toBe(0);
  });
});

describe('slots freed while the insert is awaited (dirty)', () => {
  it('take the older queued job first, then the new one', async () => {
    const { d, store, hello, pull } = await setup('dirty');
    const [old] = await d.submit([{ spec: { kind: 'exec', argv: ['old'] } }]);
    const link = hello('n1');
    await d.idle();
    // the insert's await: the agent's pull arrives meanwhile (as over a network to PostgreSQL)
    const target = store as { -readonly [K in keyof AsyncStore]: AsyncStore[K] };
    const insert = target.insertJobs.bind(store);
    target.insertJobs = async (jobs, now) => {
      target.insertJobs = insert;
      const out = await insert(jobs, now);
      pull('n1', link, 1);
      await new Promise((r) => setImmediate(r));
      return out;
    };
    const [fresh] = await d.submit([{ spec: { kind: 'exec', argv: ['new'] } }]);
    await d.idle();
    expect(link.of('assign').map((m) => m.jobId)).toEqual([old!.id]);
    pull('n1', link, 1);
    await d.idle();
    expect(link.of('assign').map((m) => m.jobId)).toEqual([old!.id, fresh!.id]);
  });
});
