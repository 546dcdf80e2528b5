/**
 * Results and stale detection: results wait in `pending` until the pump commits them (group
 * commit) and queues their acks; an attempt's end is a compare-and-set in the store, so a
 * late, duplicate or foreign result is journaled and counted as stale instead. Also ends the
 * attempts of a lost, rebooted or drained node (failAttempts), requeueing within the retry cap.
 */
import { fileNameProblem, type ResultBody } from '../../common/protocol.ts';
import { jobAfterAttempt, type AttemptResult, type AttemptState, type Job } from '../domain/jobs.ts';
import type { AgentLink, RuntimeNode } from '../node-runtime.ts';
import type { DispatcherContext, PendingResult, RunningAttempt } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { PerformanceLearning } from './performance.ts';
import { loadRuntime } from './startup.ts';

export class Results {
  private pending: PendingResult[] = [];
  private staleCount = 0;

  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
    private readonly performance: PerformanceLearning,
  ) {}

  get staleResults(): number {
    return this.staleCount;
  }

  /** The count survives restarts: it is the store's journal of stale results. */
  loadStaleCount(): void {
    this.staleCount = this.ctx.store.countStaleResults();
  }

  /** A result frame arrived: it is committed (and acked) by the next pump. */
  enqueue(result: PendingResult): void {
    this.pending.push(result);
    this.ctx.requestSchedule();
  }

  pendingLinks(): Set<AgentLink> {
    return new Set(this.pending.map((r) => r.link));
  }

  clearPending(): void {
    this.pending = [];
  }

  /** Commits every pending result (inside the pump's transaction) and queues their acks. */
  commitResults(now: number): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    for (const r of batch) {
      this.applyResult(r, now);
      this.ctx.outbox.push([r.link, { type: 'result-ack', attemptId: r.body.attemptId }]);
    }
  }

  private applyResult({ node: from, body }: PendingResult, now: number): void {
    const ctx = this.ctx;
    const run = ctx.running.get(body.attemptId);
    if (!run || run.node !== from || run.jobId !== body.jobId) {
      const attempt = ctx.store.getAttempt(body.attemptId);
      const reason = !attempt
        ? 'unknown'
        : attempt.node !== from
          ? 'foreign-node'
          : attempt.state === 'running'
            ? 'superseded'
            : attempt.state === body.outcome
              ? 'duplicate'
              : 'superseded';
      ctx.store.recordStaleResult({ attemptId: body.attemptId, ...(attempt ? { jobId: attempt.jobId } : {}), node: from, reason, at: now });
      this.countStale(body.attemptId, from, reason);
      return;
    }
    const state: Exclude<AttemptState, 'running'> = body.outcome;
    const reason = resultReason(body);
    const next =
      run.job.cancelRequested && state !== 'succeeded'
        ? ({ state: 'cancelled', reason: 'cancelled' } as const)
        : jobAfterAttempt(run.job, state, now, ctx.retryPolicy, reason);
    const result: AttemptResult = {
      ...(body.exitCode !== undefined ? { exitCode: body.exitCode } : {}),
      ...(body.signal !== undefined ? { signal: body.signal } : {}),
      ...(body.value !== undefined ? { value: body.value } : {}),
      ...(body.error !== undefined ? { error: body.error } : {}),
      stdout: body.stdout ?? '',
      stderr: body.stderr ?? '',
      ...(body.stdoutTruncated ? { stdoutTruncated: body.stdoutTruncated } : {}),
      ...(body.stderrTruncated ? { stderrTruncated: body.stderrTruncated } : {}),
      durationMs: body.durationMs,
      ...(body.cpuMs !== undefined ? { cpuMs: body.cpuMs } : {}),
      ...(body.peakMemoryBytes !== undefined ? { peakMemoryBytes: body.peakMemoryBytes } : {}),
      // Committed with the attempt's end (compare-and-set): a stale or duplicate result's artifacts are never listed.
      ...(body.artifacts?.length ? { artifacts: body.artifacts.filter((a) => !fileNameProblem(a.name)) } : {}),
      ...(body.artifactsNote ? { artifactsNote: body.artifactsNote } : {}),
    };
    if (!ctx.store.endAttempt({ attemptId: run.attemptId, jobId: run.jobId, state, at: now, ...(reason !== undefined ? { reason } : {}), result, job: next })) {
      ctx.store.recordStaleResult({ attemptId: body.attemptId, jobId: run.jobId, node: from, reason: 'superseded', at: now });
      this.countStale(body.attemptId, from, 'superseded');
      return;
    }
    const node = this.registry.nodes.get(run.node);
    if (node) {
      const succeeded = state === 'succeeded';
      node.update({
        jobsDone: node.record.jobsDone + (succeeded ? 1 : 0),
        jobsFailed: node.record.jobsFailed + (succeeded ? 0 : 1),
        cpuMs: node.record.cpuMs + (body.cpuMs ?? 0),
        ...(body.peakMemoryBytes !== undefined ? { peakMemoryBytes: Math.max(node.record.peakMemoryBytes ?? 0, body.peakMemoryBytes) } : {}),
      });
      if (succeeded) this.performance.learn(node, run.job.group, body.durationMs);
    }
    this.afterAttemptEnded(run, state, next, now, body.durationMs);
  }

  private countStale(attemptId: number, node: string, reason: string): void {
    this.staleCount++;
    this.ctx.log.debug({ attemptId, node, reason }, 'stale result dropped');
    this.ctx.emit('staleResult', { attemptId, node, reason });
  }

  private afterAttemptEnded(
    run: RunningAttempt,
    state: Exclude<AttemptState, 'running'>,
    next: ReturnType<typeof jobAfterAttempt>,
    now: number,
    durationMs: number,
  ): void {
    const ctx = this.ctx;
    ctx.running.delete(run.attemptId);
    const node = this.registry.nodes.get(run.node);
    node?.running.delete(run.attemptId);
    node?.orphans.delete(run.attemptId);
    const { currentAttemptId: _ended, ...current } = run.job;
    const rest = { ...current, nodeLosses: current.nodeLosses + (state === 'node-lost' ? 1 : 0), abandons: current.abandons + (state === 'abandoned' ? 1 : 0) };
    const job: Job =
      next.state === 'queued'
        ? { ...rest, state: 'queued', availableAt: next.availableAt, reason: next.reason }
        : { ...rest, state: next.state, finishedAt: now, ...(next.reason !== undefined ? { reason: next.reason } : {}) };
    if (job.state === 'queued') ctx.queue.enqueue(job, now);
    if (node?.state === 'draining' && node.running.size === 0) {
      this.registry.setState(node, 'drained', 'drain finished: no jobs left', 'system');
      this.registry.persistNode(node, now);
    }
    ctx.emit('attemptEnded', { jobId: run.jobId, attemptId: run.attemptId, node: run.node, state, durationMs, retried: next.state === 'queued' });
    ctx.emit('job', job);
  }

  /** Ends running attempts of a node (lost, rebooted) and requeues their jobs within the retry cap. */
  failAttempts(node: RuntimeNode, attemptIds: number[], state: 'node-lost' | 'abandoned', reason: string, now: number): void {
    if (attemptIds.length === 0) return;
    let first = true;
    // If the store refuses the commit, the in-memory view is rebuilt from it and the same
    // attempts are ended again from tick() until it accepts (nothing lost, nothing doubled).
    this.ctx.storeRetry.run(
      `fail:${node.name}:${attemptIds.join(',')}`,
      () => {
        const at = first ? now : this.ctx.clock.now();
        first = false;
        this.failAttemptsNow(node, attemptIds, state, reason, at);
      },
      () => loadRuntime(this.ctx, this.registry, this.ctx.clock.now()),
    );
  }

  private failAttemptsNow(node: RuntimeNode, attemptIds: number[], state: 'node-lost' | 'abandoned', reason: string, now: number): void {
    const ctx = this.ctx;
    let ended = 0;
    ctx.store.transaction(() => {
      for (const id of attemptIds) {
        const run = ctx.running.get(id);
        if (!run || run.node !== node.name) continue;
        const next = run.job.cancelRequested
          ? ({ state: 'cancelled', reason: 'cancelled' } as const)
          : jobAfterAttempt(run.job, state, now, ctx.retryPolicy, reason);
        if (!ctx.store.endAttempt({ attemptId: id, jobId: run.jobId, state, at: now, reason, job: next })) continue;
        ended++;
        node.update({ jobsFailed: node.record.jobsFailed + 1 });
        this.afterAttemptEnded(run, state, next, now, now - run.startedAt);
      }
    });
    ctx.log.warn({ node: node.name, attempts: ended, reason }, 'attempts failed; jobs requeued within their retry cap');
    ctx.requestSchedule();
  }
}

function resultReason(body: ResultBody): string | undefined {
  switch (body.outcome) {
    case 'succeeded':
      return undefined;
    case 'failed':
      return body.error ?? (body.signal ? `killed by ${body.signal}` : `exit code ${body.exitCode ?? '?'}`);
    case 'timed-out':
      return 'timed out';
    case 'cancelled':
      return 'cancelled';
    case 'rejected':
      return `rejected by the agent: ${body.error ?? 'no reason given'}`;
  }
}
