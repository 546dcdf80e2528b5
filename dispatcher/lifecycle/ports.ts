/**
 * What the lifecycle needs from the rest of the master — and nothing more. The Dispatcher
 * facade satisfies `LifecycleNodes` structurally; the store satisfies the two store ports.
 * Tests may hand in anything with these methods.
 */
import type { NodeState } from '../domain/nodes.ts';
import type { BootEvent } from '../../netboot/boot-event.ts';
import type { AsyncStore } from '../store/store.ts';
import type { NodeView } from '../views.ts';

export interface LifecycleNodes {
  getNode(name: string): NodeView;
  listNodes(): NodeView[];
  nodePowerConfig(name: string): { power?: Readonly<Record<string, unknown>>; mac?: string; model?: string };
  /** Stops a node's running attempts and requeues their jobs outside their retry cap. */
  abandonRunning(name: string, reason: string): number;
  transitionNode(name: string, to: NodeState, reason: string, actor: string): NodeView;
  recordNodeEvent(name: string, kind: string, message: string, actor: string): void;
  sendCommand(name: string, command: 'reboot' | 'identify' | 'shutdown', args?: Record<string, unknown>): boolean;
  /** Boot events (DHCP, TFTP, HTTP fetches, agent hello): the recovery runner watches them. */
  on(event: 'bootEvent', listener: (event: BootEvent) => void): unknown;
}

/** The power journal: every action is recorded before it is sent and completed after it is verified. */
export type PowerJournal = Pick<AsyncStore, 'insertPowerOp' | 'completePowerOp' | 'listPowerOps' | 'unfinishedPowerOps'>;

/** Where alerts live (raised once per kind and node while open). */
export type AlertStore = Pick<AsyncStore, 'raiseAlert' | 'resolveAlert' | 'listAlerts'>;
