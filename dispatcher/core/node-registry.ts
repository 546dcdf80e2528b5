/**
 * The node registry: every node the master knows (its RuntimeNode), lookups by name, MAC or
 * serial, state changes checked against the transition table, node events, persistence, and
 * the operator's list of removed nodes.
 */
import { NodeNotFoundError } from '../domain/errors.ts';
import { assertNodeTransition, type NodeEvent, type NodeRecord, type NodeState } from '../domain/nodes.ts';
import { RuntimeNode } from '../node-runtime.ts';
import type { NodeView } from '../views.ts';
import type { DispatcherContext, RunningAttempt } from './context.ts';

/**
 * Natural order of node names (node2 before node10). One collator for every sort:
 * `localeCompare` with options builds one per comparison, which made listing 10,000 nodes cost
 * ~40 ms — and the recovery runner lists them on every tick (bench:scale's profile).
 */
const byName = new Intl.Collator(undefined, { numeric: true });

export class NodeRegistry {
  readonly nodes = new Map<string, RuntimeNode>();

  /** Called after every node-event write (the facade points it at the history cap in boot-events.ts). */
  onHistoryWrite: () => void = () => {};

  constructor(private readonly ctx: DispatcherContext) {}

  newRecord(name: string, source: NodeRecord['source'], now: number, extra: Partial<NodeRecord> = {}): NodeRecord {
    return { name, labels: {}, source, state: 'offline', stateSince: now, boots: 0, jobsDone: 0, jobsFailed: 0, cpuMs: 0, ...extra };
  }

  nodeOrCreate(name: string, now: number, source: NodeRecord['source'] = 'agent'): RuntimeNode {
    let node = this.nodes.get(name);
    if (!node) {
      node = new RuntimeNode(this.newRecord(name, source, now), this.slotsCap);
      this.nodes.set(name, node);
      // A removed node's record stays deleted until it is added again: a resync that rebuilds
      // its attempts in memory (their ends are claimed again) must not write it back.
      if (!this.isRemoved(name)) this.persistNode(node, now);
    }
    return node;
  }

  /** What a node nobody sized may run at once (limits.unconfiguredSlotsCap). */
  get slotsCap(): number | undefined {
    return this.ctx.deps.limits?.unconfiguredSlotsCap;
  }

  runtime(name: string): RuntimeNode {
    const node = this.nodes.get(name);
    if (!node) throw new NodeNotFoundError(name);
    return node;
  }

  listNodes(): NodeView[] {
    return [...this.nodes.values()].sort((a, b) => byName.compare(a.name, b.name)).map((n) => n.view());
  }

  getNode(name: string): NodeView {
    return this.runtime(name).view();
  }

  /** A node's view, or undefined (netboot asks about arbitrary names). */
  findNode(name: string): (NodeView & { ipv4?: string }) | undefined {
    const n = this.nodes.get(name);
    return n ? { ...n.view(), ...(n.record.ipv4 ? { ipv4: n.record.ipv4 } : {}) } : undefined;
  }

  /** The name of the node with this MAC or Pi serial, if any. */
  nodeNameBy(key: { mac?: string; serial?: string }): string | undefined {
    for (const n of this.nodes.values()) {
      // Only what the inventory, enrollment or an admin recorded: never an agent's own claim.
      if (key.mac !== undefined && n.record.mac === key.mac) return n.name;
      if (key.serial !== undefined && n.record.serial === key.serial) return n.name;
    }
    return undefined;
  }

  runningOn(name: string): { attemptId: number; jobId: number; startedAt: number }[] {
    const node = this.runtime(name);
    return [...node.running]
      .map((id) => this.ctx.running.get(id))
      .filter((r): r is RunningAttempt => !!r)
      .map((r) => ({ attemptId: r.attemptId, jobId: r.jobId, startedAt: r.startedAt }));
  }

  async nodeEvents(name: string, limit?: number): Promise<NodeEvent[]> {
    this.runtime(name);
    await this.ctx.storeRetry.idle(); // read what was written before (events go through the write queue)
    return this.ctx.store.listNodeEvents(name, limit);
  }

  /** Records an operator-side node event (e.g. a browser shell session: who, when). */
  recordNodeEvent(name: string, kind: string, message: string, actor: string): void {
    this.nodeEvent(this.runtime(name), kind, message, actor, this.ctx.clock.now());
  }

  setState(node: RuntimeNode, to: NodeState, reason: string, actor: string): void {
    const from = node.state;
    if (from === to) return;
    assertNodeTransition(from, to);
    const now = this.ctx.clock.now();
    node.update({ state: to, stateSince: now, stateReason: reason });
    this.nodeEvent(node, 'state', reason, actor, now, from, to);
    this.ctx.log.info({ node: node.name, from, to, reason }, 'node state changed');
  }

  nodeEvent(node: RuntimeNode, kind: string, message: string, actor: string, at: number, from?: NodeState, to?: NodeState): void {
    const event: NodeEvent = { node: node.name, at, kind, message, actor, ...(from ? { from } : {}), ...(to ? { to } : {}) };
    this.ctx.storeRetry.run(undefined, () => this.ctx.store.addNodeEvent(event));
    this.ctx.emit('nodeEvent', event);
    this.onHistoryWrite();
  }

  persistNode(node: RuntimeNode, now: number): void {
    node.persistedAt = now;
    // A refused write (disk full) is kept and retried from tick() with the record as it is then.
    // The save and the delete of a node share one key, so the newest of them is what the store
    // ends with: a delete kept from a refused write (removed, then added again while the disk was
    // full) is replaced by the save, or superseded when the save goes through after it.
    this.ctx.storeRetry.run(recordKey(node.name), () => this.ctx.store.saveNode(node.record));
  }

  /** Removed by an operator: the node's agent may not rejoin until it is added again. */
  isRemoved(name: string): boolean {
    return this.ctx.removed.has(name);
  }

  setRemoved(name: string, removed: boolean): void {
    if (removed) this.ctx.removed.add(name);
    else this.ctx.removed.delete(name);
    const at = this.ctx.clock.now();
    this.ctx.storeRetry.run(`removed:${name}`, () => this.ctx.store.setNodeRemoved(name, removed, at));
  }

  /** Forgets a node (its pending save too) and deletes its record, in order with the other handler writes. */
  deleteNode(name: string): void {
    this.nodes.delete(name);
    this.ctx.storeRetry.run(recordKey(name), () => this.ctx.store.deleteNode(name));
  }
}

/** The StoreRetry key of a node's record: its saves and its delete. */
const recordKey = (name: string): string => `node:${name}`;
