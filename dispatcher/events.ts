import type { AgentMessage, MessageOf } from '../common/protocol.ts';
import type { BootEvent } from '../netboot/boot-event.ts';
import type { Job } from './domain/jobs.ts';
import type { NodeEvent } from './domain/nodes.ts';
import type { NodeView } from './views.ts';

/** Typed events the Dispatcher emits; UI push and metrics subscribe. */
export interface DispatcherEvents {
  /** A job was created or changed state. */
  job: [job: Job];
  /** A node's state, health or counters changed. */
  node: [node: NodeView];
  nodeEvent: [event: NodeEvent];
  /** A live output chunk of a running attempt. */
  output: [chunk: { attemptId: number; jobId: number; stream: 'stdout' | 'stderr'; data: string }];
  /** A job was handed to a node; latency = ready → assign. */
  dispatched: [info: { jobId: number; attemptId: number; node: string; latencyMs: number; group: string }];
  /** An attempt ended. */
  attemptEnded: [info: { jobId: number; attemptId: number; node: string; state: string; durationMs: number; retried: boolean }];
  /** A late, duplicate or foreign result was dropped. */
  staleResult: [info: { attemptId: number; node: string; reason: string }];
  heartbeat: [info: { node: string }];
  /** A malformed or refused frame from an agent. */
  protocolError: [info: { node?: string; code: string }];
  bootEvent: [event: BootEvent];
  /** A ws/timer/socket handler threw and was caught (dispatcher/guard.ts); `store` = a store write failed. */
  handlerError: [info: { channel: string; what: string; store: boolean; message: string }];
  /** An agent's hello claimed a MAC or serial the inventory does not give its node (refused; the master raises an alert). */
  identityMismatch: [info: { node: string; field: 'mac' | 'serial'; claimed: string; message: string }];
  /** A frame or input was dropped without an exception (bad shape, unknown type, over a cap). */
  inputDropped: [info: { channel: string; reason: string }];
  /** A store write failed and was kept for a retry (`pending` writes waiting), or all kept writes went through again. */
  storeHealth: [info: { ok: boolean; pending: number; message?: string }];
  /** A browser-shell frame (pty output or exit) from a node's agent; the ShellBroker relays it. */
  agentShellFrame: [frame: { node: string; message: MessageOf<AgentMessage, 'shell-output' | 'shell-exit'> }];
}
