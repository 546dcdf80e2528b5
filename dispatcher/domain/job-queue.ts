/**
 * The scheduler's view of the queue: pure, in memory, rebuilt from the store at start.
 *
 * Order (seed design "My Little Cluster"): highest priority first; within a priority,
 * round-robin over groups (a circular list: after a group is served, the next group in the
 * ring goes first); FIFO inside a group, jobs that have run before (retried) ahead of new ones; jobs whose requirements no free node meets are
 * skipped, not blocking the ones behind them (each group keeps one FIFO per requirement class,
 * so skipping them costs one check per class, not one per job). Jobs in retry backoff wait in a
 * min-heap until due.
 */
import type { Requirements } from '../../common/protocol.ts';
import { hasRequirements, satisfies } from './requirements.ts';
import type { Candidate, Strategy } from './strategies.ts';

export interface QueuedJob {
  readonly id: number;
  readonly priority: number;
  readonly group: string;
  readonly availableAt: number;
  readonly requirements: Requirements;
  /** Attempts made so far: a job that has run before (its node was lost, it is retried) goes ahead of new ones. */
  readonly attempts?: number;
}

export interface Assignment<J extends QueuedJob = QueuedJob> {
  readonly jobId: number;
  readonly node: string;
  /** The queued object itself (the Dispatcher queues whole jobs and gets them back here). */
  readonly job: J;
}

/** A FIFO of one requirement class inside one group; `seqs` is each entry's arrival order. */
class Fifo<J extends QueuedJob> {
  /** The requirement class (classKey) of every job in this FIFO. */
  constructor(readonly req: string) {}
  items: J[] = [];
  seqs: number[] = [];
  head = 0;
  get empty(): boolean {
    return this.head >= this.items.length;
  }
  push(job: J, seq: number): void {
    this.items.push(job);
    this.seqs.push(seq);
  }
  shift(): void {
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.seqs = this.seqs.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * One group's queued jobs, one FIFO per requirement class (the same requirements): a pick looks
 * at each class's head once, so jobs no free node can run cost one check per class per pass,
 * however many of them are queued, and the oldest runnable head keeps the group's FIFO order.
 */
class Group<J extends QueuedJob> {
  readonly classes = new Map<string, Fifo<J>>();
}

class Level<J extends QueuedJob> {
  readonly groups = new Map<string, Group<J>>();
  ring: string[] = [];
  cursor = 0;
  count = 0;
}

/** Subtracted from a retried job's arrival number: below any new job's (both stay exact integers). */
const RETRIED_AHEAD = 2 ** 50;

/** The requirement class of a job: '' for none, else its requirements as written. */
function classKey(r: Requirements): string {
  return hasRequirements(r) ? JSON.stringify(r) : '';
}

export class JobQueue<J extends QueuedJob = QueuedJob> {
  /** Every queued job (ready or delayed), by id: the source of truth for liveness. */
  private readonly live = new Map<number, J>();
  private readonly ready = new Set<number>();
  /** Ready jobs per group, kept as they come and go (the overview and metrics read it on every flush and scrape). */
  private readonly readyByGroup = new Map<string, number>();
  private readonly levels = new Map<number, Level<J>>();
  private priorities: number[] = [];
  private readonly delayed: J[] = []; // binary min-heap on availableAt
  /**
   * Arrival order of ready entries: FIFO order across a group's requirement classes. Jobs that
   * have run before (retried after a lost node, a failure, an abandoned hand-out) are numbered
   * below every new one: within their priority and group they go first, in their own FIFO order.
   */
  private seq = 0;

  get size(): number {
    return this.live.size;
  }
  get readySize(): number {
    return this.ready.size;
  }
  has(id: number): boolean {
    return this.live.has(id);
  }

  enqueue(job: J, now: number): void {
    if (this.live.has(job.id)) this.remove(job.id);
    this.live.set(job.id, job);
    if (job.availableAt > now) heapPush(this.delayed, job);
    else this.pushReady(job);
  }

  /** Removes a queued job (cancelled, or claimed outside the scheduler). */
  remove(id: number): boolean {
    const job = this.live.get(id);
    if (!job) return false;
    this.live.delete(id);
    if (this.ready.delete(id)) {
      this.levels.get(job.priority)!.count--;
      this.countReady(job.group, -1);
    }
    // FIFO and heap entries are dropped lazily: they no longer match `live`.
    return true;
  }

  /** Moves delayed jobs whose time has come into the ready queues. */
  promoteDue(now: number): number {
    let n = 0;
    while (this.delayed.length && this.delayed[0]!.availableAt <= now) {
      const job = heapPop(this.delayed)!;
      if (this.live.get(job.id) === job && !this.ready.has(job.id)) {
        this.pushReady(job);
        n++;
      }
    }
    return n;
  }

  /** When the earliest delayed job becomes due (for the Dispatcher's timer). */
  nextDueAt(): number | undefined {
    while (this.delayed.length && this.live.get(this.delayed[0]!.id) !== this.delayed[0]) heapPop(this.delayed);
    return this.delayed[0]?.availableAt;
  }

  /** Ready jobs by group (all priorities), for metrics and the overview: O(groups), not O(jobs). */
  depthByGroup(): Map<string, number> {
    return new Map(this.readyByGroup);
  }

  private countReady(group: string, delta: number): void {
    const n = (this.readyByGroup.get(group) ?? 0) + delta;
    if (n > 0) this.readyByGroup.set(group, n);
    else this.readyByGroup.delete(group);
  }

  /**
   * Hands out as many jobs as the candidates have free slots for. Mutates the candidates'
   * `free`, `running` and `lastAssignedAt` as it goes so the strategy sees each pick.
   */
  schedule(candidates: readonly Candidate[], strategy: Strategy, now: number): Assignment<J>[] {
    this.promoteDue(now);
    const out: Assignment<J>[] = [];
    if (this.ready.size === 0) return out;
    let free = candidates.filter((c) => c.free > 0);
    // Requirements no free node met: the free set only shrinks during this call, so a job with
    // the same requirements is skipped without checking every candidate again.
    const blocked = new Set<string>();
    for (const priority of this.priorities) {
      const level = this.levels.get(priority)!;
      while (free.length && level.count > 0) {
        const picked = this.pickFromLevel(level, free, blocked);
        if (!picked) break;
        const node = strategy.pick(picked.eligible, now);
        out.push({ jobId: picked.job.id, node: node.name, job: picked.job });
        this.live.delete(picked.job.id);
        this.ready.delete(picked.job.id);
        this.countReady(picked.job.group, -1);
        level.count--;
        node.free--;
        node.running++;
        node.lastAssignedAt = now;
        if (node.free <= 0) free = free.filter((c) => c !== node);
      }
      if (!free.length) break;
    }
    this.dropEmptyLevels();
    return out;
  }

  private pickFromLevel(level: Level<J>, free: readonly Candidate[], blocked: Set<string>): { job: J; eligible: readonly Candidate[] } | undefined {
    for (let k = 0; k < level.ring.length;) {
      const idx = (level.cursor + k) % level.ring.length;
      const group = level.ring[idx]!;
      const entry = level.groups.get(group)!;
      const found = this.pickFromGroup(entry, free, blocked);
      if (entry.classes.size === 0) {
        // Drop the exhausted group from the ring, keeping the cursor on the same successor.
        level.groups.delete(group);
        level.ring.splice(idx, 1);
        if (idx < level.cursor) level.cursor--;
        if (level.ring.length) level.cursor %= level.ring.length;
        else level.cursor = 0;
        if (found) return found;
        continue; // same k now points at the next group
      }
      if (found) {
        level.cursor = (idx + 1) % level.ring.length;
        return found;
      }
      k++;
    }
    return undefined;
  }

  /** The group's oldest job some free node can run: the oldest head among its runnable classes. */
  private pickFromGroup(group: Group<J>, free: readonly Candidate[], blocked: Set<string>): { job: J; eligible: readonly Candidate[] } | undefined {
    for (;;) {
      let best: Fifo<J> | undefined;
      let bestKey = '';
      for (const [key, fifo] of group.classes) {
        // dead entries (cancelled, claimed, re-queued) are dropped as they reach the head
        while (!fifo.empty && !this.isReady(fifo.items[fifo.head]!)) fifo.shift();
        if (fifo.empty) {
          group.classes.delete(key);
          continue;
        }
        if (blocked.has(fifo.req)) continue;
        if (!best || fifo.seqs[fifo.head]! < best.seqs[best.head]!) {
          best = fifo;
          bestKey = key;
        }
      }
      if (!best) return undefined;
      const job = best.items[best.head]!;
      const eligible = best.req === '' ? free : free.filter((c) => satisfies(c, job.requirements));
      if (eligible.length === 0) {
        // the free set only shrinks during one schedule call: this class stays unrunnable in it
        blocked.add(best.req);
        continue;
      }
      best.shift();
      if (best.empty) group.classes.delete(bestKey);
      return { job, eligible };
    }
  }

  private isReady(job: J): boolean {
    return this.live.get(job.id) === job && this.ready.has(job.id);
  }

  private pushReady(job: J): void {
    let level = this.levels.get(job.priority);
    if (!level) {
      level = new Level<J>();
      this.levels.set(job.priority, level);
      this.priorities = [...this.levels.keys()].sort((a, b) => b - a);
    }
    let group = level.groups.get(job.group);
    if (!group) {
      group = new Group<J>();
      level.groups.set(job.group, group);
      // A new group is appended to the circular list: it takes its turn after the groups
      // ahead of it in the ring, never jumping the queue.
      level.ring.push(job.group);
    }
    const req = classKey(job.requirements);
    const again = (job.attempts ?? 0) > 0;
    const key = again ? `again:${req}` : req;
    let fifo = group.classes.get(key);
    if (!fifo) {
      fifo = new Fifo<J>(req);
      group.classes.set(key, fifo);
    }
    fifo.push(job, again ? this.seq++ - RETRIED_AHEAD : this.seq++);
    this.ready.add(job.id);
    this.countReady(job.group, 1);
    level.count++;
  }

  private dropEmptyLevels(): void {
    let changed = false;
    for (const [p, level] of this.levels) {
      if (level.count === 0) {
        this.levels.delete(p);
        changed = true;
      }
    }
    if (changed) this.priorities = [...this.levels.keys()].sort((a, b) => b - a);
  }
}

function heapPush<J extends QueuedJob>(h: J[], x: J): void {
  h.push(x);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p]!.availableAt <= h[i]!.availableAt) break;
    [h[p], h[i]] = [h[i]!, h[p]!];
    i = p;
  }
}

function heapPop<J extends QueuedJob>(h: J[]): J | undefined {
  const top = h[0];
  const last = h.pop();
  if (h.length && last) {
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.availableAt < h[m]!.availableAt) m = l;
      if (r < h.length && h[r]!.availableAt < h[m]!.availableAt) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
  return top;
}
