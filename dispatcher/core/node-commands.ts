/**
 * Node commands (operator and lifecycle actions): patch slots/labels, state transitions,
 * drain/undrain, maintenance, agent commands and frames, add/approve/remove, and netboot's
 * enrollment of unknown PXE clients.
 */
import { CloseCode, type DispatcherMessage } from '../../common/protocol.ts';
import { IllegalTransitionError, NodeExistsError } from '../domain/errors.ts';
import { acceptsWork, type NodeState } from '../domain/nodes.ts';
import { RuntimeNode } from '../node-runtime.ts';
import type { NodeView } from '../views.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { Results } from './results.ts';

export interface NewNodeInput {
  name: string;
  mac?: string;
  serial?: string;
  model?: string;
  slots?: number;
  labels?: Record<string, string>;
  power?: Record<string, unknown>;
}

/** `limits.maxPendingNodes` default: pending-approval nodes enrollment may create. */
export const DEFAULT_MAX_PENDING_NODES = 32;
export class NodeCommands {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
    private readonly results: Results,
  ) {}

  /** Operator changes: slots and labels (kept over inventory values from then on). */
  patchNode(name: string, patch: { slots?: number; labels?: Record<string, string> }, actor = 'admin'): NodeView {
    const node = this.registry.runtime(name);
    const now = this.ctx.clock.now();
    const changes: string[] = [];
    if (patch.slots !== undefined && patch.slots !== node.record.slots) {
      node.update({ slots: patch.slots, slotsPatched: true });
      changes.push(`slots=${patch.slots}`);
      node.link?.send({ type: 'set-slots', slots: node.slots });
    }
    if (patch.labels !== undefined) {
      node.update({ labels: { ...patch.labels }, labelsPatched: true });
      changes.push(
        `labels=${
          Object.entries(patch.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(',') || '(none)'
        }`,
      );
    }
    if (changes.length) {
      this.registry.nodeEvent(node, 'patch', changes.join(' '), actor, now);
      this.registry.persistNode(node, now);
      this.ctx.emit('node', node.view());
      this.ctx.requestSchedule();
    }
    return node.view();
  }

  /** Sends a frame to a node's agent (browser shell relay); false when the agent is not connected. */
  sendToNode(name: string, message: DispatcherMessage): boolean {
    const link = this.registry.runtime(name).link;
    if (!link) return false;
    link.send(message);
    return true;
  }

  /** Moves a node to another state (checked against the transition table) and records why. */
  transitionNode(name: string, to: NodeState, reason: string, actor: string): NodeView {
    const node = this.registry.runtime(name);
    this.registry.setState(node, to, reason, actor);
    this.registry.persistNode(node, this.ctx.clock.now());
    this.ctx.emit('node', node.view());
    if (acceptsWork(to)) this.ctx.requestSchedule();
    return node.view();
  }

  /** The node's power settings (driver + keys) and model, for the lifecycle. */
  nodePowerConfig(name: string): { power?: Readonly<Record<string, unknown>>; mac?: string; model?: string } {
    const r = this.registry.runtime(name).record;
    return { ...(r.power ? { power: r.power } : {}), ...(r.mac ? { mac: r.mac } : {}), ...(r.model ? { model: r.model } : {}) };
  }

  /**
   * Drain: take no new jobs. Graceful lets running jobs finish (then `drained`); immediate
   * stops them on the node and requeues them at once, outside their retry cap.
   */
  drain(name: string, options: { immediate?: boolean } = {}, actor = 'admin'): NodeView {
    const { registry } = this;
    const node = registry.runtime(name);
    const now = this.ctx.clock.now();
    // The intent outlives disconnects, reboots and master restarts until undrain.
    node.update({ drainRequested: true });
    if (node.state !== 'draining' && node.state !== 'drained')
      registry.setState(node, node.running.size ? 'draining' : 'drained', options.immediate ? 'drain (immediate)' : 'drain (finish running jobs)', actor);
    if (options.immediate && node.running.size) {
      const ids = [...node.running];
      for (const id of ids) node.link?.send({ type: 'cancel', attemptId: id, reason: 'node drained' });
      this.results.failAttempts(node, ids, 'abandoned', 'node drained', now);
    }
    if (node.state === 'draining' && node.running.size === 0) registry.setState(node, 'drained', 'drain finished: no jobs left', 'system');
    registry.persistNode(node, now);
    this.ctx.emit('node', node.view());
    return node.view();
  }

  /** Stops a node's running attempts and requeues their jobs at once, outside their retry cap (power off, reboot). */
  abandonRunning(name: string, reason: string): number {
    const node = this.registry.runtime(name);
    const ids = [...node.running];
    for (const id of ids) node.link?.send({ type: 'cancel', attemptId: id, reason });
    this.results.failAttempts(node, ids, 'abandoned', reason, this.ctx.clock.now());
    return ids.length;
  }

  undrain(name: string, actor = 'admin'): NodeView {
    const node = this.registry.runtime(name);
    if (node.record.drainRequested) {
      node.update({ drainRequested: false });
      this.registry.persistNode(node, this.ctx.clock.now());
    }
    if (node.state !== 'draining' && node.state !== 'drained') return node.view();
    return this.transitionNode(name, node.link ? 'online' : 'offline', 'undrain', actor);
  }

  /** Maintenance: no jobs and no automatic recovery until it is ended. */
  setMaintenance(name: string, on: boolean, actor = 'admin'): NodeView {
    const node = this.registry.runtime(name);
    if (on) {
      if (node.state === 'maintenance') return node.view();
      return this.transitionNode(name, 'maintenance', 'maintenance started', actor);
    }
    if (node.state !== 'maintenance') return node.view();
    return this.transitionNode(name, node.link ? 'online' : 'offline', 'maintenance ended', actor);
  }

  /** Sends a node-level command to the agent; false when it is not connected. */
  sendCommand(name: string, command: 'reboot' | 'identify' | 'shutdown', args?: Record<string, unknown>): boolean {
    const node = this.registry.runtime(name);
    if (!node.link) return false;
    node.link.send({ type: 'command', command, ...(args ? { args } : {}) });
    return true;
  }

  /** Operator adds a node (or approves a pending one under a new name). */
  addNode(input: NewNodeInput, actor = 'admin', approve?: string): NodeView {
    const { ctx, registry } = this;
    const now = ctx.clock.now();
    if (registry.nodes.has(input.name) && input.name !== approve) throw new NodeExistsError(input.name);
    const pending = approve !== undefined ? registry.runtime(approve) : undefined;
    if (pending && pending.state !== 'pending-approval') throw new IllegalTransitionError('node', pending.state, 'offline');
    // A name the inventory file lists (added again after a removal): its entry fills in what the
    // request leaves out, as start-up merges it, so netboot knows the machine and power drives it.
    const inv = ctx.deps.inventory?.nodes.find((n) => n.name === input.name);
    const mac = input.mac ?? pending?.record.mac ?? inv?.mac;
    const serial = input.serial ?? pending?.record.serial ?? inv?.serial;
    const clash = registry.nodeNameBy({ ...(mac ? { mac } : {}), ...(serial ? { serial } : {}) });
    if (clash && clash !== approve) throw new NodeExistsError(clash, 'MAC or serial');
    if (pending && approve !== input.name) {
      registry.deleteNode(approve!);
    }
    const model = input.model ?? inv?.model;
    const power = input.power ?? inv?.power;
    const record = registry.newRecord(input.name, pending ? 'netboot' : 'api', now, {
      ...(mac ? { mac } : {}),
      ...(serial ? { serial } : {}),
      ...(model ? { model } : {}),
      ...(inv?.ipv4 ? { ipv4: inv.ipv4 } : {}),
      ...(input.slots !== undefined ? { slots: input.slots, slotsPatched: true } : inv ? { slots: inv.slots } : {}),
      labels: input.labels ?? inv?.labels ?? {},
      ...(input.labels && inv ? { labelsPatched: true } : {}),
      ...(power ? { power } : {}),
    });
    const node = new RuntimeNode(record, registry.slotsCap);
    registry.nodes.set(input.name, node);
    registry.setRemoved(input.name, false);
    registry.nodeEvent(node, pending ? 'approved' : 'added', pending ? `approved (was ${approve})` : 'added through the API', actor, now);
    registry.persistNode(node, now);
    ctx.emit('node', node.view());
    return node.view();
  }

  /** Removes a node (a pending one is thereby rejected). Its running attempts are stopped and requeued; its agent may not rejoin until it is added again. */
  removeNode(name: string, actor = 'admin'): void {
    const { ctx, registry } = this;
    const node = registry.runtime(name);
    const now = ctx.clock.now();
    if (node.running.size) this.abandonRunning(name, 'node removed');
    node.link?.close(CloseCode.refused, 'node removed');
    registry.setRemoved(name, true);
    registry.deleteNode(name);
    const event = { node: name, at: now, kind: 'removed', message: node.state === 'pending-approval' ? 'rejected' : 'removed', actor };
    ctx.storeRetry.run(undefined, () => ctx.store.addNodeEvent(event));
  }

  /** netboot saw an unknown PXE client with enrollment on: record it as pending approval. */
  enrollPending(client: { mac: string; serial?: string; vendorClass?: string; arch?: number }): string | undefined {
    const { ctx, registry } = this;
    const known = registry.nodeNameBy({ mac: client.mac, ...(client.serial ? { serial: client.serial } : {}) });
    if (known) return known;
    // Unknown PXE clients are unauthenticated: at most maxPendingNodes wait for approval at once.
    const maxPending = ctx.deps.limits?.maxPendingNodes ?? DEFAULT_MAX_PENDING_NODES;
    let pending = 0;
    for (const n of registry.nodes.values()) if (n.state === 'pending-approval') pending++;
    if (pending >= maxPending) {
      ctx.emit('inputDropped', { channel: 'netboot', reason: 'ENROLLMENT_FULL' });
      ctx.log.debug({ mac: client.mac, pending, maxPending }, 'enrollment full: unknown PXE client not recorded');
      return undefined;
    }
    const now = ctx.clock.now();
    const name = `pending-${client.mac.replace(/:/g, '')}`;
    const node = new RuntimeNode(
      registry.newRecord(name, 'netboot', now, {
        mac: client.mac,
        ...(client.serial ? { serial: client.serial } : {}),
        state: 'pending-approval',
        stateReason: `PXE client ${client.vendorClass ?? ''}`.trim(),
      }),
      registry.slotsCap,
    );
    registry.nodes.set(name, node);
    registry.nodeEvent(
      node,
      'enroll',
      `seen by netboot (${client.vendorClass ?? 'PXE'}${client.arch !== undefined ? `, arch ${client.arch}` : ''}); waiting for approval`,
      'netboot',
      now,
    );
    registry.persistNode(node, now);
    ctx.emit('node', node.view());
    return name;
  }
}
