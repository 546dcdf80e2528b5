/**
 * Assignment, in three steps around the pump's one transaction: `handOut` (synchronous) turns
 * free slots into candidates, lets the queue and the strategy pick job → node pairs
 * (domain/job-queue.ts, domain/strategies.ts) and holds the slot and credit of each; `write`
 * starts the attempts in the store; `apply` (after the commit) records them as running and puts
 * the `assign` frames in the outbox. A job whose agent went away while its start was being
 * committed is abandoned (the agent never got it); one the store did not start (cancelled
 * meanwhile) gives its credit back.
 */
import { JobQueue } from '../domain/job-queue.ts';
import type { Job } from '../domain/jobs.ts';
import { acceptsWork } from '../domain/nodes.ts';
import type { Candidate } from '../domain/strategies.ts';
import type { AgentLink, RuntimeNode } from '../node-runtime.ts';
import type { Attempt } from '../domain/jobs.ts';
import type { AsyncStore } from '../store/store.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { Placement } from './placement.ts';
import type { Results } from './results.ts';

/** One job handed to a node by the pump in flight. */
export interface HandOut {
  readonly jobId: number;
  readonly job: Job;
  readonly node: RuntimeNode;
  /** The agent's link when the job was handed out: the assign goes only to it. */
  readonly link: AgentLink | undefined;
}

export type Started = { jobId: number; attempt: Attempt }[];

export class Assignment {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
    private readonly placement: Placement,
    private readonly results: Results,
  ) {}

  /**
   * Free slots → jobs of `queue` (the in-memory queue; or the jobs the pump's transaction has just
   * inserted, handed to the slots left over so their start commits with their insert).
   */
  handOut(now: number, queue: JobQueue<Job> = this.ctx.queue): HandOut[] {
    const ctx = this.ctx;
    // Nothing to hand out: skip the walk over every node (a pump runs on every pull and result).
    queue.promoteDue(now);
    if (queue.readySize === 0) return [];
    const candidates: Candidate[] = [];
    for (const node of this.registry.nodes.values()) {
      const free = node.free;
      if (free <= 0) continue;
      const placement = this.placement.nodePlacement(node.name);
      if (placement.status === 'skipped') continue;
      const id = node.record.identity;
      candidates.push({
        name: node.name,
        labels: node.record.labels,
        cpus: id?.cpus ?? 1,
        memoryMb: id?.memoryMb ?? 0,
        arch: id?.arch ?? 'unknown',
        free,
        running: node.running.size + node.handingOut,
        slots: node.slots,
        lastAssignedAt: node.lastAssignedAt,
        ...(node.perf !== undefined ? { perf: node.perf } : {}),
        derate: placement.derate,
      });
    }
    if (candidates.length === 0) return [];
    const out: HandOut[] = [];
    for (const a of queue.schedule(candidates, ctx.strategy, now)) {
      const node = this.registry.nodes.get(a.node)!;
      node.credits--;
      node.handingOut++;
      node.lastAssignedAt = now;
      ctx.handingOut.set(a.jobId, { cancel: undefined });
      out.push({ jobId: a.jobId, job: a.job, node, link: node.link });
    }
    return out;
  }

  async write(tx: AsyncStore, handOut: readonly HandOut[], now: number): Promise<Started> {
    if (handOut.length === 0) return [];
    return tx.startAttempts(
      handOut.map((h) => ({ jobId: h.jobId, node: h.node.name })),
      now,
    );
  }

  /**
   * The jobs the pump's transaction has just inserted, to the slots the queue's own `handOut` left
   * free (pump.ts asks the queue first, so no older job is passed over): their start commits with
   * their insert, and the submit's answer and the assign go out after the same commit. The rest
   * are queued after that commit.
   */
  handOutFresh(jobs: readonly Job[], now: number): HandOut[] {
    const fresh = new JobQueue<Job>();
    for (const job of jobs) fresh.enqueue(job, now);
    return this.handOut(now, fresh);
  }

  /**
   * The commit failed: the slots and credits go back to their nodes, the jobs back to the queue —
   * except `uncommitted` ones (inserted by the same transaction: they do not exist).
   */
  undo(handOut: readonly HandOut[], now: number, uncommitted?: ReadonlySet<number>): void {
    for (const h of handOut) {
      h.node.handingOut--;
      h.node.credits++;
      this.ctx.handingOut.delete(h.jobId);
      if (!uncommitted?.has(h.jobId)) this.ctx.queue.enqueue(h.job, now);
    }
  }

  apply(handOut: readonly HandOut[], started: Started, now: number): number {
    const ctx = this.ctx;
    const byJob = new Map(started.map((s) => [s.jobId, s.attempt]));
    for (const h of handOut) {
      const { node, jobId, job: queued } = h;
      node.handingOut--;
      const mark = ctx.handingOut.get(jobId);
      ctx.handingOut.delete(jobId);
      const attempt = byJob.get(jobId);
      if (!attempt) {
        node.credits++; // not queued in the store any more (cancelled meanwhile)
        continue;
      }
      const job: Job = {
        ...queued,
        state: 'running',
        attempts: queued.attempts + 1,
        startedAt: queued.startedAt ?? now,
        currentAttemptId: attempt.id,
        lastAttemptId: attempt.id,
        node: node.name,
        ...(mark?.cancel ? { cancelRequested: true } : {}),
      };
      node.running.add(attempt.id);
      ctx.running.set(attempt.id, { attemptId: attempt.id, jobId, node: node.name, startedAt: now, job });
      ctx.emit('dispatched', {
        jobId,
        attemptId: attempt.id,
        node: node.name,
        latencyMs: Math.max(0, now - Math.max(queued.submittedAt, queued.availableAt)),
        group: job.group,
      });
      ctx.emit('job', job);
      // While the start was committed: the agent went away or was replaced, the node was removed,
      // or it was drained (or otherwise stopped taking work). It never gets the job, which is
      // requeued without counting a try.
      const link = h.link;
      const why =
        !link || node.link !== link
          ? 'agent went away while the job was handed out'
          : this.registry.nodes.get(node.name) !== node
            ? 'node removed while the job was handed out'
            : !acceptsWork(node.state)
              ? `node ${node.state} while the job was handed out`
              : undefined;
      if (why || !link) {
        this.results.failAttempts(node, [attempt.id], 'abandoned', why ?? 'agent went away while the job was handed out', now);
        continue;
      }
      ctx.outbox.push([
        link,
        {
          type: 'assign',
          attemptId: attempt.id,
          jobId,
          spec: job.spec,
          ...(job.timeoutMs !== undefined ? { timeoutMs: job.timeoutMs } : {}),
          outputLimitBytes: ctx.settings.outputLimitBytes,
        },
      ]);
      if (mark?.cancel) ctx.outbox.push([link, { type: 'cancel', attemptId: attempt.id, reason: mark.cancel }]);
    }
    return started.length;
  }
}
