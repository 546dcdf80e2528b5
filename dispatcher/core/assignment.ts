/**
 * Assignment (inside the pump's transaction): free slots become candidates, the queue and
 * the strategy pick job → node pairs (domain/job-queue.ts, domain/strategies.ts), the store
 * starts the attempts, and the `assign` frames go to the outbox.
 */
import type { Job } from '../domain/jobs.ts';
import type { Candidate } from '../domain/strategies.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { Placement } from './placement.ts';

export class Assignment {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
    private readonly placement: Placement,
  ) {}

  assignJobs(now: number): number {
    const ctx = this.ctx;
    // Nothing to hand out: skip the walk over every node (a pump runs on every pull and result).
    ctx.queue.promoteDue(now);
    if (ctx.queue.readySize === 0) return 0;
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
        running: node.running.size,
        slots: node.slots,
        lastAssignedAt: node.lastAssignedAt,
        ...(node.perf !== undefined ? { perf: node.perf } : {}),
        derate: placement.derate,
      });
    }
    if (candidates.length === 0) return 0;
    const assignments = ctx.queue.schedule(candidates, ctx.strategy, now);
    if (assignments.length === 0) return 0;
    const started = ctx.store.startAttempts(assignments, now);
    const byJob = new Map(assignments.map((a) => [a.jobId, a.job]));
    for (const { jobId, attempt } of started) {
      const queued = byJob.get(jobId)!;
      const node = this.registry.nodes.get(attempt.node)!;
      const job: Job = {
        ...queued,
        state: 'running',
        attempts: queued.attempts + 1,
        startedAt: queued.startedAt ?? now,
        currentAttemptId: attempt.id,
        lastAttemptId: attempt.id,
        node: node.name,
      };
      node.credits--;
      node.running.add(attempt.id);
      node.lastAssignedAt = now;
      ctx.running.set(attempt.id, { attemptId: attempt.id, jobId, node: node.name, startedAt: now, job });
      if (node.link) {
        ctx.outbox.push([
          node.link,
          {
            type: 'assign',
            attemptId: attempt.id,
            jobId,
            spec: job.spec,
            ...(job.timeoutMs !== undefined ? { timeoutMs: job.timeoutMs } : {}),
            outputLimitBytes: ctx.settings.outputLimitBytes,
          },
        ]);
      }
      ctx.emit('dispatched', {
        jobId,
        attemptId: attempt.id,
        node: node.name,
        latencyMs: Math.max(0, now - Math.max(queued.submittedAt, queued.availableAt)),
        group: job.group,
      });
      ctx.emit('job', job);
    }
    return started.length;
  }
}
