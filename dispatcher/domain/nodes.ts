/**
 * Node states and their transition table. Every transition is recorded as a node event by
 * the Dispatcher with its cause.
 */
import { IllegalTransitionError } from './errors.ts';
import type { Health, NodeIdentity } from '../../common/protocol.ts';

export const NODE_STATES = [
  'pending-approval', // seen by netboot (enrollment on), not yet approved
  'offline', // known (inventory/API), agent not connected and nothing expected of it
  'booting', // DHCP/TFTP seen or power applied: the agent is expected soon
  'online', // agent connected, free slots
  'busy', // agent connected, every slot used
  'draining', // finishing running jobs, taking no new ones
  'drained', // drained: connected, idle, takes nothing
  'suspect', // connection dropped or heartbeats late: jobs kept for a grace period
  'lost', // missed heartbeats past the limit: its attempts failed with node-lost
  'rebooting',
  'power-cycling',
  'quarantined', // automatic recovery gave up; a human is needed
  'maintenance', // taken out by an operator: no jobs, no automatic recovery
] as const;
export type NodeState = (typeof NODE_STATES)[number];

const connected: NodeState[] = ['online', 'busy', 'draining', 'drained'];

export const NODE_TRANSITIONS: Readonly<Record<NodeState, readonly NodeState[]>> = {
  'pending-approval': ['offline', 'booting', 'online'],
  offline: ['booting', 'online', 'rebooting', 'power-cycling', 'maintenance', 'pending-approval', 'drained', 'draining'],
  booting: ['online', 'offline', 'lost', 'power-cycling', 'maintenance', 'quarantined', 'draining', 'drained'],
  online: ['busy', 'draining', 'drained', 'suspect', 'offline', 'rebooting', 'power-cycling', 'maintenance', 'lost'],
  busy: ['online', 'draining', 'drained', 'suspect', 'offline', 'rebooting', 'power-cycling', 'maintenance', 'lost'],
  draining: ['drained', 'online', 'suspect', 'offline', 'rebooting', 'power-cycling', 'maintenance', 'lost'],
  drained: ['online', 'draining', 'suspect', 'offline', 'rebooting', 'power-cycling', 'maintenance', 'lost'],
  suspect: ['online', 'busy', 'draining', 'drained', 'lost', 'offline', 'maintenance', 'rebooting', 'power-cycling'],
  lost: ['online', 'booting', 'rebooting', 'power-cycling', 'quarantined', 'maintenance', 'offline', 'draining', 'drained'],
  rebooting: ['online', 'booting', 'lost', 'power-cycling', 'quarantined', 'maintenance', 'offline', 'draining', 'drained'],
  'power-cycling': ['booting', 'online', 'lost', 'quarantined', 'maintenance', 'offline', 'draining', 'drained'],
  quarantined: ['maintenance', 'offline', 'online', 'booting', 'power-cycling', 'rebooting', 'draining', 'drained'],
  maintenance: ['offline', 'online', 'booting', 'rebooting', 'power-cycling', 'draining', 'drained'],
};

export const isConnectedState = (s: NodeState): boolean => connected.includes(s);
/** States in which the node may be handed new work. */
export const acceptsWork = (s: NodeState): boolean => s === 'online' || s === 'busy';

export function canTransitionNode(from: NodeState, to: NodeState): boolean {
  return from === to || NODE_TRANSITIONS[from].includes(to);
}

export function assertNodeTransition(from: NodeState, to: NodeState): void {
  if (!canTransitionNode(from, to)) throw new IllegalTransitionError('node', from, to);
}

export interface NodeRecord {
  readonly name: string;
  readonly mac?: string;
  readonly serial?: string;
  readonly model?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Operator-set slots; undefined = the agent's CPUs. */
  readonly slots?: number;
  /** Set once an operator changed labels/slots through the API: the inventory no longer overrides them. */
  readonly labelsPatched?: boolean;
  readonly slotsPatched?: boolean;
  /** Where the node came from. */
  readonly source: 'inventory' | 'agent' | 'api' | 'netboot';
  readonly state: NodeState;
  readonly stateSince: number;
  readonly stateReason?: string;
  /** Identity from the last hello. */
  readonly identity?: NodeIdentity;
  readonly health?: Health;
  readonly lastSeenAt?: number;
  readonly bootId?: string;
  readonly boots: number;
  readonly jobsDone: number;
  readonly jobsFailed: number;
  readonly cpuMs: number;
  /** Power settings from the inventory/API (driver + driver keys). */
  readonly power?: Readonly<Record<string, unknown>>;
  /** Full-DHCP reservation from the inventory. */
  readonly ipv4?: string;
  /** An operator drained it: it stays draining/drained across reconnects and reboots until undrain. */
  readonly drainRequested?: boolean;
}

export interface NodeEvent {
  readonly id?: number;
  readonly node: string;
  readonly at: number;
  /** `state`, `hello`, `reconnect`, `lost`, `patch`, `reboot`, `shell`, … */
  readonly kind: string;
  readonly message: string;
  /** Who or what caused it: `system`, `agent`, `admin`, `scheduler`, … */
  readonly actor: string;
  readonly from?: NodeState;
  readonly to?: NodeState;
}

/** `limits.unconfiguredSlotsCap` default: slots of a node neither the inventory nor an admin sized. */
export const DEFAULT_UNCONFIGURED_SLOTS_CAP = 4;

/**
 * Slots come from the inventory or an admin (`slots`); the agent's declared CPU count can only
 * lower them (a stolen token cannot claim more capacity than configured). A node nobody sized
 * gets its CPU count, at most `unconfiguredCap`.
 */
export function effectiveSlots(node: Pick<NodeRecord, 'slots' | 'identity'>, unconfiguredCap = DEFAULT_UNCONFIGURED_SLOTS_CAP): number {
  const cpus = node.identity?.cpus;
  if (node.slots !== undefined) return cpus !== undefined ? Math.min(node.slots, cpus) : node.slots;
  return Math.max(1, Math.min(cpus ?? 1, unconfiguredCap));
}
