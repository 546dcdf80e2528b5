/**
 * Results and stale detection: results wait in `pending` until the pump claims them; an
 * attempt's end is a compare-and-set in the store, so a late, duplicate or foreign result is
 * journaled and counted as stale instead. Also ends the attempts of a lost, rebooted or drained
 * node (failAttempts), requeueing within the retry cap.
 *
 * Exactly once across the pump's await: an end is *claimed* synchronously (its attempt leaves
 * the running attempts, so no other path can end it), written in the pump's one transaction,
 * and applied to memory (requeue, counters, events, acks) only after the commit.
 */
import { fileNameProblem, type ResultBody } from '../../common/protocol.ts';
import { jobAfterAttempt, type AttemptResult, type AttemptState, type Job } from '../domain/jobs.ts';
import type { AgentLink, RuntimeNode } from '../node-runtime.ts';
import type { AttemptEnd, AsyncStore } from '../store/store.ts';
import type { DispatcherContext, PendingResult, RunningAttempt } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { PerformanceLearning } from './performance.ts';

type Next = ReturnType<typeof jobAfterAttempt>;

/** An attempt's end claimed for the pump in flight. */
export interface ClaimedEnd {
  readonly run: RunningAttempt;
  readonly end: AttemptEnd;
  readonly next: Next;
  readonly durationMs: number;
  /** Set when a result frame ended it (node counters, learning, stale on a lost compare-and-set). */
  readonly result?: PendingResult;
  /** Set when a lost/rebooted/drained node ended it (kept for a retry when the commit fails). */
  readonly lost?: { readonly state: 'node-lost' | 'abandoned'; readonly reason: string };
}

/** What one pump commits for results and node failures. */
export interface ResultBatch {
  readonly ends: ClaimedEnd[];
  /** Results that matched no running attempt: journaled as stale. */
  readonly stale: PendingResult[];
  /** Every result frame of the batch: acked after the commit. */
  readonly acks: PendingResult[];
}

export interface ResultWrites {
  readonly ended: boolean[];
  readonly staleReasons: string[];
}

export class Results {
  private pending: PendingResult[] = [];
  private lostEnds: ClaimedEnd[] = [];
  /** Node failures whose commit failed: failed again from tick() (after the resync). */
  private failedAgain: { node: string; ids: number[]; state: 'node-lost' | 'abandoned'; reason: string }[] = [];
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
  async loadStaleCount(): Promise<void> {
    this.staleCount = await this.ctx.store.countStaleResults();
  }

  /** A result frame arrived: it is committed (and acked) by the next pump. */
  enqueue(result: PendingResult): void {
    this.pending.push(result);
    this.ctx.requestSchedule();
  }

  /** Takes the pending results and node failures for the pump about to commit (synchronous). */
  claim(now: number): ResultBatch {
    const batch: ResultBatch = { ends: this.lostEnds, stale: [], acks: this.pending };
    this.pending = [];
    this.lostEnds = [];
    for (const r of batch.acks) {
      const run = this.ctx.running.get(r.body.attemptId);
      if (!run || run.node !== r.node || run.jobId !== r.body.jobId) batch.stale.push(r);
      else batch.ends.push(this.claimResult(run, r, now));
    }
    return batch;
  }

  /** Writes the batch inside the pump's transaction. */
  async write(tx: AsyncStore, batch: ResultBatch, now: number): Promise<ResultWrites> {
    // one call for every end of the batch (an engine may run it as one statement or round trip)
    const ended = batch.ends.length ? await tx.endAttempts(batch.ends.map((c) => c.end)) : [];
    for (const [i, c] of batch.ends.entries()) {
      if (!ended[i] && c.result)
        await tx.recordStaleResult({ attemptId: c.end.attemptId, jobId: c.end.jobId, node: c.result.node, reason: 'superseded', at: now });
    }
    const staleReasons: string[] = [];
    for (const { node: from, body } of batch.stale) {
      const attempt = await tx.getAttempt(body.attemptId);
      const reason = !attempt
        ? 'unknown'
        : attempt.node !== from
          ? 'foreign-node'
          : attempt.state === 'running'
            ? 'superseded'
            : attempt.state === body.outcome
              ? 'duplicate'
              : 'superseded';
      await tx.recordStaleResult({ attemptId: body.attemptId, ...(attempt ? { jobId: attempt.jobId } : {}), node: from, reason, at: now });
      staleReasons.push(reason);
    }
    return { ended, staleReasons };
  }

  /** After the commit: memory follows the store, acks go to the outbox. */
  apply(batch: ResultBatch, w: ResultWrites, now: number): void {
    batch.ends.forEach((c, i) => {
      if (!w.ended[i]) {
        if (c.result) this.countStale(c.end.attemptId, c.result.node, 'superseded');
        return;
      }
      const node = this.registry.nodes.get(c.run.node);
      const body = c.result?.body;
      if (node && body) {
        const succeeded = c.end.state === 'succeeded';
        node.update({
          jobsDone: node.record.jobsDone + (succeeded ? 1 : 0),
          jobsFailed: node.record.jobsFailed + (succeeded ? 0 : 1),
          cpuMs: node.record.cpuMs + (body.cpuMs ?? 0),
          ...(body.peakMemoryBytes !== undefined ? { peakMemoryBytes: Math.max(node.record.peakMemoryBytes ?? 0, body.peakMemoryBytes) } : {}),
        });
        if (succeeded) this.performance.learn(node, c.run.job.group, body.durationMs);
      } else if (node) node.update({ jobsFailed: node.record.jobsFailed + 1 });
      this.afterAttemptEnded(c.run, c.end.state, c.next, now, c.durationMs);
    });
    batch.stale.forEach((r, i) => this.countStale(r.body.attemptId, r.node, w.staleReasons[i]!));
    for (const r of batch.acks) this.ctx.outbox.push([r.link, { type: 'result-ack', attemptId: r.body.attemptId }]);
  }

  /** The commit failed: the node failures of the batch are claimed again once a resync succeeds; results are resent by their agents. */
  failed(batch: ResultBatch): void {
    for (const c of batch.ends) {
      if (c.lost) this.failedAgain.push({ node: c.run.node, ids: [c.run.attemptId], state: c.lost.state, reason: c.lost.reason });
    }
  }

  /**
   * After a resync succeeded: node failures whose commit failed are claimed again (the resync put
   * their attempts back). They are committed by the next pump, or the one the tick asks for (not
   * one asked for now: a store that refuses every commit would be tried in a loop of pumps).
   */
  retryFailed(now: number): void {
    const again = this.failedAgain;
    this.failedAgain = [];
    for (const f of again) {
      const node = this.registry.nodes.get(f.node);
      if (node) this.failAttempts(node, f.ids, f.state, f.reason, now, false);
    }
    if (again.length) this.ctx.retryPump = true;
  }

  /**
   * Nodes the runtime was rebuilt with only because the store still has attempts running on them,
   * though an operator removed them (their abandon was not committed yet, or a result of theirs
   * was in a commit that failed): those attempts are abandoned (committed by the next pump, or the
   * one the tick asks for) and the node leaves the view again, unsaved (nodeOrCreate).
   */
  dropRemoved(rebuilt: ReadonlySet<string>, now: number): void {
    let dropped = false;
    for (const name of rebuilt) {
      const node = this.registry.nodes.get(name);
      if (!node || !this.registry.isRemoved(name)) continue;
      this.failAttempts(node, [...node.running], 'abandoned', 'node removed', now, false);
      this.registry.nodes.delete(name);
      dropped = true;
    }
    if (dropped) this.ctx.retryPump = true;
  }

  /**
   * After a resync rebuilt the running attempts from the store: the node failures claimed since
   * the batch was taken (waiting for the next pump) are still running there; they leave the view
   * again, so that they are ended once and hold no slot.
   */
  releaseClaimed(): void {
    for (const c of this.lostEnds) this.release(c.run);
  }

  pendingLinks(batch: ResultBatch): Set<AgentLink> {
    return new Set(batch.acks.map((r) => r.link));
  }

  private claimResult(run: RunningAttempt, r: PendingResult, now: number): ClaimedEnd {
    const body = r.body;
    const state: Exclude<AttemptState, 'running'> = body.outcome;
    const reason = resultReason(body);
    const next: Next =
      run.job.cancelRequested && state !== 'succeeded'
        ? { state: 'cancelled', reason: 'cancelled' }
        : jobAfterAttempt(run.job, state, now, this.ctx.retryPolicy, reason);
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
    this.release(run);
    const end: AttemptEnd = { attemptId: run.attemptId, jobId: run.jobId, state, at: now, ...(reason !== undefined ? { reason } : {}), result, job: next };
    return { run, end, next, durationMs: body.durationMs, result: r };
  }

  /** The attempt leaves the running attempts (and its node's slot): nothing else can end it now. */
  private release(run: RunningAttempt): void {
    this.ctx.running.delete(run.attemptId);
    const node = this.registry.nodes.get(run.node);
    node?.running.delete(run.attemptId);
    node?.orphans.delete(run.attemptId);
  }

  private countStale(attemptId: number, node: string, reason: string): void {
    this.staleCount++;
    this.ctx.log.debug({ attemptId, node, reason }, 'stale result dropped');
    this.ctx.emit('staleResult', { attemptId, node, reason });
  }

  private afterAttemptEnded(run: RunningAttempt, state: Exclude<AttemptState, 'running'>, next: Next, now: number, durationMs: number): void {
    const ctx = this.ctx;
    const node = this.registry.nodes.get(run.node);
    const { currentAttemptId: _ended, ...current } = run.job;
    const rest = { ...current, nodeLosses: current.nodeLosses + (state === 'node-lost' ? 1 : 0), abandons: current.abandons + (state === 'abandoned' ? 1 : 0) };
    const job: Job =
      next.state === 'queued'
        ? { ...rest, state: 'queued', availableAt: next.availableAt, reason: next.reason }
        : { ...rest, state: next.state, finishedAt: now, ...(next.reason !== undefined ? { reason: next.reason } : {}) };
    if (job.state === 'queued') {
      ctx.queue.enqueue(job, now);
      ctx.requestSchedule(); // handed out by the next pump (a follow-up when this runs inside one)
    }
    if (node?.state === 'draining' && node.running.size === 0) {
      this.registry.setState(node, 'drained', 'drain finished: no jobs left', 'system');
      this.registry.persistNode(node, now);
    }
    ctx.emit('attemptEnded', { jobId: run.jobId, attemptId: run.attemptId, node: run.node, state, durationMs, retried: next.state === 'queued' });
    ctx.emit('job', job);
  }

  /**
   * Ends running attempts of a node (lost, rebooted, drained) and requeues their jobs within the
   * retry cap. They leave the node at once; the next pump commits their ends. If the store refuses
   * the commit, the in-memory view is rebuilt from it and the same attempts are ended again from
   * tick() until it accepts (nothing lost, nothing doubled).
   */
  failAttempts(node: RuntimeNode, attemptIds: number[], state: 'node-lost' | 'abandoned', reason: string, now: number, schedule = true): void {
    if (attemptIds.length === 0) return;
    const ctx = this.ctx;
    let claimed = 0;
    for (const id of attemptIds) {
      const run = ctx.running.get(id);
      if (!run || run.node !== node.name) continue;
      const next: Next = run.job.cancelRequested ? { state: 'cancelled', reason: 'cancelled' } : jobAfterAttempt(run.job, state, now, ctx.retryPolicy, reason);
      this.release(run);
      this.lostEnds.push({
        run,
        end: { attemptId: id, jobId: run.jobId, state, at: now, reason, job: next },
        next,
        durationMs: now - run.startedAt,
        lost: { state, reason },
      });
      claimed++;
    }
    ctx.log.warn({ node: node.name, attempts: claimed, reason }, 'attempts failed; jobs requeued within their retry cap');
    if (schedule) ctx.requestSchedule();
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
