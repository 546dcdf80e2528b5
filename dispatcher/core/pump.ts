/**
 * The pump: the batch (submitted jobs, pending results, node failures, jobs for free slots) is claimed in memory,
 * written in ONE awaited store transaction, and only after it committed is memory updated and
 * the outbox (acks, assigns) sent, one corked write per agent. At most one pump is in flight
 * (context.ts coalesces requests into one follow-up). A failed commit acks nothing, undoes the
 * hand-out and resyncs from the store; a commit memory cannot apply sends what it queued and resyncs.
 */
import { CloseCode } from '../../common/protocol.ts';
import type { AgentLink } from '../node-runtime.ts';
import type { Assignment, HandOut } from './assignment.ts';
import type { DispatcherContext, PendingSubmit } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { Results } from './results.ts';
import { loadRuntime } from './startup.ts';

export class Pump {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
    private readonly results: Results,
    private readonly assignment: Assignment,
  ) {}

  /** One pass (called by DispatcherContext.pumpNow, never two at once). */
  async pump(): Promise<void> {
    const submits = this.ctx.submits;
    this.ctx.submits = [];
    try {
      await this.pass(submits);
    } catch (e) {
      // Whatever threw (a resync's read, a bug in a hand-out), no submit it took is left waiting:
      // one not answered yet was not committed (an answered one ignores this), the client may retry.
      for (const s of submits) s.reject(e);
      throw e;
    }
  }

  private async pass(submits: readonly PendingSubmit[]): Promise<void> {
    const ctx = this.ctx;
    const now = ctx.clock.now();
    // A resync that failed (the store unreachable) is retried before anything is claimed against
    // a view that lacks the store's running attempts (their resent results would be stale).
    if (ctx.resyncDue) await this.resync(now, new Set());
    const batch = this.results.claim(now);
    let handOut: HandOut[];
    try {
      handOut = this.assignment.handOut(now);
    } catch (e) {
      // A bug in the hand-out, after the batch was claimed: nothing was written or acked. As after
      // a failed commit, memory is rebuilt (the claimed attempts run again in it, the jobs a partial
      // hand-out took are queued again) and the batch's agents reconnect and resend their results.
      ctx.log.error({ err: e }, 'the hand-out failed; nothing was written or acknowledged; resyncing from the store');
      this.results.failed(batch);
      await this.resync(now, this.results.pendingLinks(batch));
      throw e;
    }
    if (submits.length === 0 && batch.acks.length === 0 && batch.ends.length === 0 && handOut.length === 0) return;
    let written;
    let fresh: HandOut[] = [];
    try {
      written = await ctx.store.transaction(async (tx) => {
        const inserted = submits.length ? await tx.insertJobs(submits.length === 1 ? submits[0]!.jobs : submits.flatMap((s) => s.jobs), now) : [];
        // the slots left free take the new jobs now, their start committed with their insert; first
        // the queue again, for slots freed while the insert was awaited (no older job passed over)
        if (inserted.length) {
          handOut.push(...this.assignment.handOut(now));
          fresh = this.assignment.handOutFresh(inserted, now);
          handOut.push(...fresh);
        }
        const results = await this.results.write(tx, batch, now);
        const started = await this.assignment.write(tx, handOut, now);
        return { inserted, results, started };
      });
    } catch (e) {
      // Nothing was committed or acked. Rebuild the in-memory view from the store, and make the
      // agents whose results were in the batch reconnect, which makes them resend those results.
      ctx.log.error({ err: e }, 'could not commit; nothing was acknowledged; resyncing from the store');
      for (const s of submits) s.reject(e);
      this.assignment.undo(handOut, now, new Set(fresh.map((h) => h.jobId)));
      this.results.failed(batch);
      await this.resync(now, this.results.pendingLinks(batch));
      return;
    }
    // Committed: each submit is answered with its jobs (the answer reaches the client after this
    // synchronous pass has queued them).
    for (let i = 0, at = 0; i < submits.length; at += submits[i]!.jobs.length, i++) {
      submits[i]!.resolve(written.inserted.slice(at, at + submits[i]!.jobs.length));
    }
    try {
      if (written.inserted.length) {
        const started = new Set(written.started.map((s) => s.jobId));
        for (const job of written.inserted) {
          if (!started.has(job.id)) ctx.queue.enqueue(job, now); // no free slot yet: a pull or result pumps again
          ctx.emit('job', job);
        }
      }
      this.results.apply(batch, written.results, now);
      this.assignment.apply(handOut, written.started, now);
    } catch (e) {
      // Committed, but memory could not take it (a bug, e.g. an illegal transition): what was
      // queued matches the commit and goes out; memory is rebuilt from the store, and the agents of
      // this batch reconnect, so a result left unacked or an assign left unsent is reconciled by
      // their hello (resent result → stale and acked; a running attempt the agent lacks → orphan).
      ctx.log.error({ err: e }, 'committed, but the in-memory view could not apply it; resyncing from the store');
      this.send();
      const links = this.results.pendingLinks(batch);
      for (const h of handOut) {
        if (h.link) links.add(h.link);
        // the node's agent reconnected while the start was committed: its new link lacks the job
        if (h.node.link) links.add(h.node.link);
        // a cancel asked from here on waits for the resync (job-commands.ts), not for this hand-out
        ctx.handingOut.delete(h.jobId);
      }
      await this.resync(now, links);
      return;
    }
    this.send();
  }

  private send(): void {
    const ctx = this.ctx;
    const out = ctx.outbox;
    ctx.outbox = [];
    if (out.length < 2) {
      for (const [link, msg] of out) link.send(msg);
      return;
    }
    // One write per agent for everything this pump sends it (assigns and acks).
    const links = new Set(out.map(([link]) => link));
    for (const link of links) link.cork?.();
    for (const [link, msg] of out) link.send(msg);
    for (const link of links) link.uncork?.();
  }

  private async resync(now: number, links: Set<AgentLink>): Promise<void> {
    this.ctx.resyncDue = true;
    this.ctx.outbox = [];
    for (const link of links) link.close(CloseCode.lost, 'dispatcher could not commit; reconnect and resend');
    const rebuilt = await loadRuntime(this.ctx, this.registry, now);
    for (const link of this.ctx.hellosDuringResync) {
      link.close(CloseCode.lost, 'dispatcher rebuilt its view while the agent joined; reconnect');
      links.add(link);
    }
    this.ctx.hellosDuringResync.clear();
    this.results.releaseClaimed();
    this.ctx.resyncDue = false;
    // The failed commit's node failures, now that the resync has put their attempts back (claimed
    // any earlier, against a view without them, they would be dropped and their jobs never end).
    // Their commit waits for the next pump or the tick: a store that refuses every commit (a full
    // disk) is not tried again in a loop of pumps.
    this.results.retryFailed(now);
    this.results.dropRemoved(rebuilt, now);
    for (const node of this.registry.nodes.values()) {
      // no credit for a link being closed (here, or by an earlier resync): an assign on it would be lost
      const open = node.link !== undefined && !links.has(node.link) && node.link.open !== false;
      if (node.link) node.credits = open ? Math.max(0, node.slots - node.running.size) : 0;
      // a cancel recorded in the store reaches an agent that stays connected (one that reconnects
      // hears it at its hello): the view it was noted in may be the one just replaced
      if (open)
        for (const id of node.running)
          if (this.ctx.running.get(id)?.job.cancelRequested) node.link!.send({ type: 'cancel', attemptId: id, reason: 'cancelled' });
      // a drain whose last attempt ended in the commit that memory could not apply
      if (node.state === 'draining' && node.running.size === 0) {
        this.registry.setState(node, 'drained', 'drain finished: no jobs left', 'system');
        this.registry.persistNode(node, now);
      }
    }
  }
}
