/**
 * The pump: once per event-loop turn, pending results are committed and queued jobs handed
 * out in one store transaction; the outbox (acks, assigns) is sent only after the commit,
 * one corked write per agent. A failed commit acks nothing and resyncs from the store.
 */
import { CloseCode } from '../../common/protocol.ts';
import type { AgentLink } from '../node-runtime.ts';
import type { Assignment } from './assignment.ts';
import type { DispatcherContext } from './context.ts';
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

  /** Commits pending results and hands out jobs now (tests and shutdown call it directly). */
  pump(): void {
    const ctx = this.ctx;
    const now = ctx.clock.now();
    const batchLinks = this.results.pendingLinks();
    try {
      ctx.store.transaction(() => {
        this.results.commitResults(now);
        this.assignment.assignJobs(now);
      });
    } catch (e) {
      // Nothing was committed or acked. The in-memory view may have moved ahead of the store:
      // rebuild it from the store, and make the agents whose results were in the batch
      // reconnect, which makes them resend those results.
      ctx.outbox = [];
      ctx.log.error({ err: e }, 'could not commit; nothing was acknowledged; resyncing from the store');
      this.resync(now, batchLinks);
      return;
    }
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

  private resync(now: number, links: Set<AgentLink>): void {
    this.results.clearPending();
    loadRuntime(this.ctx, this.registry, now);
    for (const node of this.registry.nodes.values()) {
      if (node.link) node.credits = Math.max(0, node.slots - node.running.size);
    }
    for (const link of links) link.close(CloseCode.lost, 'dispatcher could not commit; reconnect and resend');
  }
}
