/** The cluster overview (REST /api/cluster, the UI's header): nodes by state, slots, jobs, queue depth. */
import type { JobState } from '../domain/jobs.ts';
import type { NodeView } from '../views.ts';
import type { DispatcherContext } from './context.ts';

export interface Overview {
  nodes: { total: number; byState: Record<string, number>; connected: number };
  slots: { total: number; busy: number };
  jobs: Record<JobState, number>;
  queue: { ready: number; delayed: number; byGroup: Record<string, number> };
  staleResults: number;
  strategy: string;
}

export function overview(ctx: DispatcherContext, nodes: readonly NodeView[], jobs: Record<JobState, number>, staleResults: number): Overview {
  const byState: Record<string, number> = {};
  let slots = 0;
  let busy = 0;
  for (const n of nodes) {
    byState[n.state] = (byState[n.state] ?? 0) + 1;
    if (n.connected) {
      slots += n.slots;
      busy += n.running;
    }
  }
  return {
    nodes: { total: nodes.length, byState, connected: nodes.filter((n) => n.connected).length },
    slots: { total: slots, busy },
    jobs,
    queue: { ready: ctx.queue.readySize, delayed: ctx.queue.size - ctx.queue.readySize, byGroup: Object.fromEntries(ctx.queue.depthByGroup()) },
    staleResults,
    strategy: ctx.strategy.name,
  };
}
