/**
 * Node rows in `/ui` deltas, kept small (pure; the gateway holds one per app). A node that
 * changed only what heartbeats and jobs change goes out as a **patch** — its name and the
 * dynamic fields below, every one of them (`null` = the field is gone) — instead of its whole
 * view (identity, labels, MAC, model…: two thirds of the bytes). A node whose static part
 * changed (a new object or value there: hello, a labels patch) goes out whole.
 *
 * Health alone (a heartbeat with nothing else new) is sent per node at most every
 * `minHealthMs`, which grows with the cluster so the browser gets at most `healthPerSecond`
 * health updates a second: with 1,000 nodes or fewer every heartbeat shows; with 10,000 at
 * the default budget each node's health refreshes every 10 s. A change of state, running jobs,
 * counters or connection is never held back, and carries the latest health with it.
 */
import type { NodeView } from '../views.ts';

export const NODE_DYNAMIC_FIELDS = [
  'state',
  'stateSince',
  'stateReason',
  'connected',
  'running',
  'jobsDone',
  'jobsFailed',
  'cpuMs',
  'peakMemoryBytes',
  'health',
  'lastSeenAt',
  'perf',
] as const;
type DynamicField = (typeof NODE_DYNAMIC_FIELDS)[number];
/** A node's name and all its dynamic fields; `null` = absent from the view. */
export type NodePatch = { name: string } & { [K in DynamicField]: NodeView[K] | null };

const DYNAMIC = new Set<string>(NODE_DYNAMIC_FIELDS);
/** Dynamic fields other than the heartbeat's own (health, lastSeenAt). */
const EVENTFUL = NODE_DYNAMIC_FIELDS.filter((f) => f !== 'health' && f !== 'lastSeenAt');

export interface NodeRows {
  readonly full: NodeView[];
  readonly patches: NodePatch[];
  /** Health-only changes not due yet: offer them again later (the latest view per node). */
  readonly deferred: NodeView[];
}

export class NodePatcher {
  /** What the browsers were last sent of each node, and when its health went out. */
  private readonly sent = new Map<string, { view: NodeView; healthAt: number }>();

  constructor(private readonly healthPerSecond = 1000) {}

  /** Health of one node is sent at most this often (ms) for a cluster of `nodes`. */
  minHealthMs(nodes: number): number {
    return nodes <= this.healthPerSecond ? 0 : Math.round((nodes / this.healthPerSecond) * 1000);
  }

  /** Full rows, patches and held-back rows for the nodes that changed since the last flush. */
  rows(views: Iterable<NodeView>, now: number): NodeRows {
    const full: NodeView[] = [];
    const patches: NodePatch[] = [];
    const deferred: NodeView[] = [];
    // The nodes the browsers know of stand for the cluster's size.
    const minHealthMs = this.minHealthMs(this.sent.size);
    for (const v of views) {
      const last = this.sent.get(v.name);
      if (!last || staticChanged(last.view, v)) {
        full.push(v);
        this.sent.set(v.name, { view: v, healthAt: now });
        continue;
      }
      const eventful = EVENTFUL.some((f) => last.view[f] !== v[f]);
      if (!eventful && now - last.healthAt < minHealthMs) {
        deferred.push(v);
        continue;
      }
      patches.push(patchOf(v));
      this.sent.set(v.name, { view: v, healthAt: now });
    }
    return { full, patches, deferred };
  }

  forget(name: string): void {
    this.sent.delete(name);
  }
}

function staticChanged(a: NodeView, b: NodeView): boolean {
  for (const k of Object.keys(b)) if (!DYNAMIC.has(k) && a[k as keyof NodeView] !== b[k as keyof NodeView]) return true;
  for (const k of Object.keys(a)) if (!DYNAMIC.has(k) && !(k in b)) return true;
  return false;
}

export function patchOf(v: NodeView): NodePatch {
  const p: Record<string, unknown> = { name: v.name };
  for (const f of NODE_DYNAMIC_FIELDS) p[f] = v[f] ?? null;
  return p as NodePatch;
}
