import { describe, expect, it } from 'vitest';
import type { Requirements } from '../../common/protocol.ts';
import { JobQueue, type QueuedJob } from './job-queue.ts';
import { createStrategy, RoundRobinStrategy, type Candidate } from './strategies.ts';

const job = (id: number, o: Partial<QueuedJob> = {}): QueuedJob => ({ id, priority: 0, group: 'default', availableAt: 0, requirements: {}, ...o });
const node = (name: string, o: Partial<Candidate> = {}): Candidate => ({
  name,
  labels: {},
  cpus: 4,
  memoryMb: 1024,
  arch: 'arm64',
  free: 1,
  running: 0,
  slots: 4,
  lastAssignedAt: 0,
  derate: 1,
  ...o,
});

/** Drains the queue one job at a time onto a single node with one free slot per call. */
function order(q: JobQueue, now = 0): number[] {
  const out: number[] = [];
  for (let i = 0; i < 1000 && q.size > 0; i++) {
    const a = q.schedule([node('n1')], new RoundRobinStrategy(), now);
    if (!a.length) break;
    out.push(a[0]!.jobId);
  }
  return out;
}

describe('JobQueue ordering', () => {
  it.each<[string, QueuedJob[], number[]]>([
    ['FIFO inside a group', [job(1), job(2), job(3)], [1, 2, 3]],
    ['higher priority first', [job(1), job(2, { priority: 5 }), job(3, { priority: -1 }), job(4, { priority: 5 })], [2, 4, 1, 3]],
    [
      'round-robin over groups',
      [job(1, { group: 'a' }), job(2, { group: 'a' }), job(3, { group: 'a' }), job(4, { group: 'b' }), job(5, { group: 'c' }), job(6, { group: 'b' })],
      [1, 4, 5, 2, 6, 3],
    ],
    [
      'priority beats group rotation',
      [job(1, { group: 'a' }), job(2, { group: 'b' }), job(3, { group: 'b', priority: 1 }), job(4, { group: 'a', priority: 1 })],
      [3, 4, 1, 2],
    ],
  ])('%s', (_name, jobs, want) => {
    const q = new JobQueue();
    for (const j of jobs) q.enqueue(j, 0);
    expect(order(q)).toEqual(want);
    expect(q.size).toBe(0);
  });

  it('a group that arrives later waits its turn behind the groups already in the ring', () => {
    const q = new JobQueue();
    [job(1, { group: 'a' }), job(2, { group: 'a' }), job(3, { group: 'b' }), job(4, { group: 'b' })].forEach((j) => q.enqueue(j, 0));
    expect(q.schedule([node('n')], new RoundRobinStrategy(), 0).map((a) => a.jobId)).toEqual([1]);
    q.enqueue(job(5, { group: 'c' }), 0);
    expect(order(q)).toEqual([3, 5, 2, 4]);
  });

  it('removed (cancelled) jobs are never handed out', () => {
    const q = new JobQueue();
    [1, 2, 3].forEach((i) => q.enqueue(job(i), 0));
    expect(q.remove(2)).toBe(true);
    expect(q.remove(2)).toBe(false);
    expect(order(q)).toEqual([1, 3]);
  });

  it('jobs in backoff wait until due, then join in priority order', () => {
    const q = new JobQueue();
    q.enqueue(job(1, { availableAt: 100 }), 0);
    q.enqueue(job(2, { availableAt: 50 }), 0);
    expect(q.nextDueAt()).toBe(50);
    expect(q.schedule([node('n')], new RoundRobinStrategy(), 10)).toEqual([]);
    expect(order(q, 60)).toEqual([2]);
    expect(order(q, 100)).toEqual([1]);
    expect(q.nextDueAt()).toBeUndefined();
  });

  it('requirements filter nodes and skip jobs no free node can run', () => {
    const q = new JobQueue();
    const cases: [number, Requirements][] = [
      [1, { labels: { gpu: 'yes' } }],
      [2, {}],
      [3, { arch: 'x64' }],
      [4, { memoryMb: 2048 }],
      [5, { cpus: 8 }],
      [6, { node: 'small' }],
      [7, { labels: { rack: '*' } }],
    ];
    for (const [id, requirements] of cases) q.enqueue(job(id, { requirements }), 0);
    const nodes = [
      node('small', { free: 10, memoryMb: 1024, labels: { rack: 'a' } }),
      node('big', { free: 10, memoryMb: 4096, cpus: 8, labels: { gpu: 'yes' } }),
    ];
    const got = Object.fromEntries(q.schedule(nodes, createStrategy('least-recent'), 0).map((a) => [a.jobId, a.node]));
    expect(got).toEqual({ 1: 'big', 2: expect.any(String), 4: 'big', 5: 'big', 6: 'small', 7: 'small' });
    expect(q.has(3)).toBe(true); // no x64 node: still queued
  });

  it('hands out no more than the free slots', () => {
    const q = new JobQueue();
    for (let i = 1; i <= 10; i++) q.enqueue(job(i), 0);
    const a = q.schedule([node('a', { free: 2 }), node('b', { free: 3 }), node('c', { free: 0 })], new RoundRobinStrategy(), 0);
    expect(a).toHaveLength(5);
    expect(a.filter((x) => x.node === 'a')).toHaveLength(2);
    expect(a.filter((x) => x.node === 'c')).toHaveLength(0);
    expect(q.size).toBe(5);
  });
});

describe('node-selection strategies', () => {
  const pickSeq = (name: Parameters<typeof createStrategy>[0], nodes: Candidate[], n: number, random?: () => number): string[] => {
    const s = createStrategy(name, random);
    const q = new JobQueue();
    const out: string[] = [];
    for (let t = 1; t <= n; t++) {
      q.enqueue(job(t), t); // one job per step: each schedule() makes exactly one pick
      const a = q.schedule(nodes, s, t);
      out.push(...a.map((x) => x.node));
      // finished instantly: the slot frees again, running count stays as the strategy saw it
      for (const x of a) nodes.find((c) => c.name === x.node)!.free++;
    }
    return out;
  };

  it('round-robin cycles in name order', () => {
    expect(pickSeq('round-robin', [node('b', { free: 5 }), node('a', { free: 5 }), node('c', { free: 5 })], 5)).toEqual(['a', 'b', 'c', 'a', 'b']);
  });

  it('least-connections prefers the node with the lowest load ratio', () => {
    const nodes = [node('a', { free: 5, running: 3, slots: 4 }), node('b', { free: 5, running: 1, slots: 4 }), node('c', { free: 5, running: 1, slots: 2 })];
    // b (1/4) → then b and c tie at 0.5 and c runs fewer → then b (2/4) beats c (2/2)
    expect(pickSeq('least-connections', nodes, 3)).toEqual(['b', 'c', 'b']);
  });

  it('least-recent picks the node idle longest', () => {
    const nodes = [node('a', { free: 5, lastAssignedAt: 0.5 }), node('b', { free: 5, lastAssignedAt: 0.2 }), node('c', { free: 5, lastAssignedAt: 0.9 })];
    expect(pickSeq('least-recent', nodes, 4)).toEqual(['b', 'a', 'c', 'b']);
  });

  it('best-performance prefers the fastest healthy node; unmeasured nodes count as average', () => {
    const nodes = [
      node('slow', { free: 5, perf: 1.8 }),
      node('fast', { free: 1, perf: 0.6 }),
      node('new', { free: 5 }),
      node('hot', { free: 5, perf: 0.5, derate: 4 }),
    ];
    const s = createStrategy('best-performance');
    expect(s.pick(nodes, 0).name).toBe('fast');
    expect(
      s.pick(
        nodes.filter((n) => n.name !== 'fast'),
        0,
      ).name,
    ).toBe('new');
    expect(s.pick([nodes[0]!, nodes[3]!], 0).name).toBe('slow'); // 1.8 < 0.5·4
  });

  it('weighted-random follows the weights', () => {
    let x = 0;
    const random = (): number => ((x = (x * 9301 + 49297) % 233280), x / 233280); // deterministic LCG
    const nodes = [node('a', { free: 1000, slots: 1 }), node('b', { free: 1000, slots: 3 })];
    const picks = pickSeq('weighted-random', nodes, 400, random);
    const b = picks.filter((p) => p === 'b').length / picks.length;
    expect(b).toBeGreaterThan(0.65);
    expect(b).toBeLessThan(0.85);
    // a derated node is picked less
    const s = createStrategy('weighted-random', () => 0.3);
    expect(s.pick([node('a', { slots: 1, derate: 1 }), node('b', { slots: 1, derate: 1 })], 0).name).toBe('a');
    expect(s.pick([node('a', { slots: 1, derate: 4 }), node('b', { slots: 1, derate: 1 })], 0).name).toBe('b');
  });
});

describe('JobQueue bookkeeping at depth', () => {
  it('depthByGroup follows enqueue, remove, hand-out and promotion', () => {
    const q = new JobQueue();
    q.enqueue(job(1, { group: 'a' }), 0);
    q.enqueue(job(2, { group: 'a' }), 0);
    q.enqueue(job(3, { group: 'b', priority: 2 }), 0);
    q.enqueue(job(4, { group: 'b', availableAt: 50 }), 0);
    expect(Object.fromEntries(q.depthByGroup())).toEqual({ a: 2, b: 1 });
    q.remove(2);
    q.remove(4);
    expect(Object.fromEntries(q.depthByGroup())).toEqual({ a: 1, b: 1 });
    q.schedule([node('n1')], new RoundRobinStrategy(), 0);
    expect(Object.fromEntries(q.depthByGroup())).toEqual({ a: 1 });
    q.enqueue(job(5, { group: 'c', availableAt: 10 }), 0);
    q.promoteDue(10);
    expect(Object.fromEntries(q.depthByGroup())).toEqual({ a: 1, c: 1 });
    q.enqueue(job(1, { group: 'c' }), 10); // re-enqueued under another group
    expect(Object.fromEntries(q.depthByGroup())).toEqual({ c: 2 });
  });

  it('taking jobs from behind ones no node can run keeps both in FIFO order', () => {
    const q = new JobQueue();
    const x64 = { arch: 'x64' };
    [1, 2, 3, 4, 5, 6].forEach((id) => q.enqueue(job(id, id % 2 ? { requirements: x64 } : {}), 0));
    expect(order(q)).toEqual([2, 4, 6]);
    expect(order(q)).toEqual([]);
    const a = q.schedule([node('pc', { arch: 'x64', free: 3 })], new RoundRobinStrategy(), 0);
    expect(a.map((x) => x.jobId)).toEqual([1, 3, 5]);
    expect(q.size).toBe(0);
  });

  it('a runnable job is found behind any number of jobs no node can run, in one check per requirement class', () => {
    const q = new JobQueue();
    // 5,000 x64 jobs and 5,000 gpu jobs ahead of one plain job (the old scan looked 512 deep)
    let id = 1;
    for (let i = 0; i < 5000; i++) q.enqueue(job(id++, { requirements: { arch: 'x64' } }), 0);
    for (let i = 0; i < 5000; i++) q.enqueue(job(id++, { requirements: { labels: { gpu: 'yes' } } }), 0);
    q.enqueue(job(id, {}), 0);
    const checks = { n: 0 };
    const counting = new Proxy(node('n1'), {
      get: (t, k) => {
        if (k === 'arch') checks.n++;
        return Reflect.get(t, k);
      },
    });
    const a = q.schedule([counting], new RoundRobinStrategy(), 0);
    expect(a.map((x) => x.jobId)).toEqual([id]);
    expect(checks.n).toBeLessThanOrEqual(2); // the x64 class once, not each of its 5,000 jobs
    expect(q.size).toBe(10_000);
  });

  it('a job that has run before (requeued after its node was lost) goes ahead of new ones, within its priority', () => {
    const q = new JobQueue();
    [1, 2, 3].forEach((id) => q.enqueue(job(id), 0));
    q.enqueue(job(4, { priority: 1 }), 0);
    q.enqueue(job(9, { attempts: 1 }), 0);
    q.enqueue(job(7, { attempts: 2 }), 0);
    expect(order(q)).toEqual([4, 9, 7, 1, 2, 3]);
  });

  it('keeps arrival order across requirement classes inside a group', () => {
    const q = new JobQueue();
    const reqs: Requirements[] = [{}, { arch: 'arm64' }, { labels: { rack: '*' } }, {}, { arch: 'arm64' }, { labels: { rack: '*' } }, { cpus: 2 }];
    reqs.forEach((requirements, i) => q.enqueue(job(i + 1, { requirements }), 0));
    const all = () => q.schedule([node('n1', { labels: { rack: 'a' } })], new RoundRobinStrategy(), 0)[0]?.jobId;
    expect(Array.from({ length: 7 }, all)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // a class removed while queued (cancel) leaves no gap in the order of the others
    reqs.forEach((requirements, i) => q.enqueue(job(i + 11, { requirements }), 0));
    q.remove(12);
    q.remove(14);
    expect(Array.from({ length: 6 }, all)).toEqual([11, 13, 15, 16, 17, undefined]);
  });
});
