/**
 * The Dispatcher's in-memory view of one node: its persisted record plus what only exists
 * while the master runs (the agent link, pull credits, running attempts, lost deadline).
 */
import type { DispatcherMessage } from '../common/protocol.ts';
import { acceptsWork, DEFAULT_UNCONFIGURED_SLOTS_CAP, effectiveSlots, type NodeRecord, type NodeState } from './domain/nodes.ts';
import type { NodeView } from './views.ts';

/** How the Dispatcher talks to one connected agent; the ws gateway implements it. */
export interface AgentLink {
  send(message: DispatcherMessage): void;
  close(code: number, reason: string): void;
  /** False once the link is closing or closed (frames still arriving on it are ignored); absent: always open. */
  readonly open?: boolean;
  /** Optional write batching: frames sent between cork() and uncork() leave in one write. */
  cork?(): void;
  uncork?(): void;
}

export class RuntimeNode {
  link: AgentLink | undefined;
  /** Jobs the agent said it will take (pull credits), not yet used. */
  credits = 0;
  /** Attempt ids running on this node, as the Dispatcher sees it. */
  readonly running = new Set<number>();
  /** Jobs handed to this node by the pump in flight, not yet committed (they hold a slot). */
  handingOut = 0;
  /** When the node is declared lost if nothing is heard from it before. */
  deadline: number | undefined;
  /** Attempts the reconnected agent did not mention: failed if no result arrives by this time. */
  orphanDeadline: number | undefined;
  readonly orphans = new Set<number>();
  lastAssignedAt = 0;
  perf: number | undefined;
  /** Last time the record was written to the store (heartbeats are persisted sparingly). */
  persistedAt = 0;

  constructor(
    public record: NodeRecord,
    /** Slots of a node with none configured (limits.unconfiguredSlotsCap). */
    readonly unconfiguredSlotsCap = DEFAULT_UNCONFIGURED_SLOTS_CAP,
  ) {}

  get name(): string {
    return this.record.name;
  }
  get state(): NodeState {
    return this.record.state;
  }
  get slots(): number {
    return effectiveSlots(this.record, this.unconfiguredSlotsCap);
  }
  /** Free slots the scheduler may fill now. */
  get free(): number {
    if (!this.link || !acceptsWork(this.record.state)) return 0;
    return Math.max(0, Math.min(this.credits, this.slots - this.running.size - this.handingOut));
  }

  update(patch: Partial<NodeRecord>): void {
    this.record = { ...this.record, ...patch };
  }

  view(): NodeView {
    const r = this.record;
    const id = r.identity;
    const state: NodeState = r.state === 'online' && this.running.size > 0 && this.running.size >= this.slots ? 'busy' : r.state;
    return {
      name: r.name,
      state,
      stateSince: r.stateSince,
      ...(r.stateReason !== undefined ? { stateReason: r.stateReason } : {}),
      connected: this.link !== undefined,
      ...((r.mac ?? id?.mac) ? { mac: r.mac ?? id?.mac } : {}),
      ...((r.serial ?? id?.serial) ? { serial: r.serial ?? id?.serial } : {}),
      ...((r.model ?? id?.model) ? { model: r.model ?? id?.model } : {}),
      ...(id?.ip ? { ip: id.ip } : {}),
      labels: r.labels,
      slots: this.slots,
      running: this.running.size,
      ...(id
        ? { cpus: id.cpus, memoryMb: id.memoryMb, arch: id.arch, agentVersion: id.agentVersion, ...(id.imageVersion ? { imageVersion: id.imageVersion } : {}) }
        : {}),
      ...(r.bootId ? { bootId: r.bootId } : {}),
      boots: r.boots,
      jobsDone: r.jobsDone,
      jobsFailed: r.jobsFailed,
      cpuMs: r.cpuMs,
      ...(r.peakMemoryBytes !== undefined ? { peakMemoryBytes: r.peakMemoryBytes } : {}),
      ...(r.health ? { health: r.health } : {}),
      ...(r.lastSeenAt !== undefined ? { lastSeenAt: r.lastSeenAt } : {}),
      source: r.source,
      ...(this.perf !== undefined ? { perf: Math.round(this.perf * 1000) / 1000 } : {}),
      ...(id ? { identity: id } : {}),
    };
  }
}
