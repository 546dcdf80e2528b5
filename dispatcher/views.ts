/**
 * What the API and UI see of nodes and jobs: projections of the domain records plus the
 * Dispatcher's runtime view (connected, running, free slots).
 */
import type { Health, NodeIdentity } from '../common/protocol.ts';
import type { NodeState } from './domain/nodes.ts';

export interface NodeView {
  readonly name: string;
  /** The lifecycle state; `busy` when online with every slot in use. */
  readonly state: NodeState;
  readonly stateSince: number;
  readonly stateReason?: string;
  readonly connected: boolean;
  readonly mac?: string;
  readonly serial?: string;
  readonly model?: string;
  readonly ip?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly slots: number;
  readonly running: number;
  readonly cpus?: number;
  readonly memoryMb?: number;
  readonly arch?: string;
  readonly agentVersion?: string;
  readonly imageVersion?: string;
  readonly bootId?: string;
  readonly boots: number;
  readonly jobsDone: number;
  readonly jobsFailed: number;
  readonly cpuMs: number;
  readonly peakMemoryBytes?: number;
  readonly health?: Health;
  readonly lastSeenAt?: number;
  readonly source: string;
  /** EWMA of normalised job durations (1 = average; lower is faster). */
  readonly perf?: number;
  readonly identity?: NodeIdentity;
}
