/**
 * Rolling reboot from the browser, the same steps as `picluster rollout`: for each batch of
 * nodes, drain, wait until nothing runs there, reboot through the agent, wait until the node is
 * back with a new boot id (and the expected image version, when one is given), undrain; stop at
 * the first node that does not come back right (it stays drained; later nodes are not touched).
 *
 * Waits are on the live store (node deltas pushed over ws /ui), never polled. Runs in the tab
 * that started it: closing the tab stops it between steps.
 */
import type { NodeView } from './types.ts';

export type StepState = 'waiting' | 'draining' | 'rebooting' | 'undraining' | 'done' | 'failed' | 'not touched' | 'stopped';

export interface RolloutOptions {
  readonly batch: number;
  readonly drainTimeoutMs: number;
  readonly bootTimeoutMs: number;
  readonly imageVersion?: string;
  readonly signal?: AbortSignal;
}

export interface RolloutDeps {
  /** `POST /api/nodes/:name/<action>`. */
  action(name: string, action: 'drain' | 'reboot' | 'undrain'): Promise<unknown>;
  /** The node as the live store has it now. */
  node(name: string): NodeView | undefined;
  /** Resolves with the node once `pred` holds (checked now and on every live update); rejects after `timeoutMs` or on abort. */
  until(name: string, pred: (n: NodeView | undefined) => boolean, timeoutMs: number, what: string, signal?: AbortSignal): Promise<NodeView>;
}

export interface RolloutResult {
  readonly ok: boolean;
  readonly failedAt?: string;
  readonly error?: string;
}

export type Progress = (name: string, state: StepState, detail?: string) => void;

/** Nodes a rolling reboot cannot start on, with the reason. */
export function rolloutProblems(names: readonly string[], node: (name: string) => NodeView | undefined): string[] {
  const problems: string[] = [];
  for (const name of names) {
    const n = node(name);
    if (!n) problems.push(`${name}: no such node`);
    else if (!n.connected) problems.push(`${name}: its agent is not connected (use power cycle)`);
    else if (n.state === 'maintenance') problems.push(`${name}: in maintenance`);
  }
  return problems;
}

export async function rollingReboot(names: readonly string[], o: RolloutOptions, deps: RolloutDeps, progress: Progress): Promise<RolloutResult> {
  const batch = Math.max(1, Math.floor(o.batch));
  for (const n of names) progress(n, 'waiting');
  const touched = new Set<string>();
  const until: RolloutDeps['until'] = async (name, pred, timeoutMs, what, signal) => {
    if (signal?.aborted) throw new Error('stopped by the operator');
    return deps.until(name, pred, timeoutMs, what, signal);
  };
  const stopHere = (failed: string, error: string, state: StepState = 'failed'): RolloutResult => {
    progress(failed, state, error);
    for (const n of names) if (n !== failed && !touched.has(n)) progress(n, 'not touched');
    return { ok: false, failedAt: failed, error };
  };
  for (let i = 0; i < names.length; i += batch) {
    const group = names.slice(i, i + batch);
    const before = new Map<string, string | undefined>();
    let current = group[0]!;
    try {
      for (const n of group) {
        current = n;
        if (o.signal?.aborted) return stopHere(n, 'stopped by the operator', 'stopped');
        touched.add(n);
        before.set(n, deps.node(n)?.bootId);
        progress(n, 'draining', 'waiting for running jobs to finish');
        await deps.action(n, 'drain');
      }
      for (const n of group) {
        current = n;
        await until(n, (x) => !!x && x.running === 0, o.drainTimeoutMs, `${n} to drain`, o.signal);
        if (o.signal?.aborted) return stopHere(n, 'stopped by the operator (drained, not rebooted)', 'stopped');
        await deps.action(n, 'reboot');
        progress(n, 'rebooting', 'drained; waiting for a new boot id');
      }
      for (const n of group) {
        current = n;
        const old = before.get(n);
        const back = await until(n, (x) => !!x && x.connected && x.bootId !== undefined && x.bootId !== old, o.bootTimeoutMs, `${n} to come back`, o.signal);
        if (o.imageVersion && back.imageVersion !== o.imageVersion)
          throw new Error(`came back with image ${back.imageVersion ?? '(none)'}, expected ${o.imageVersion}`);
        progress(n, 'undraining');
        await deps.action(n, 'undrain');
        progress(n, 'done', `back with boot ${back.bootId!.slice(0, 8)}${back.imageVersion ? ` on image ${back.imageVersion}` : ''}`);
      }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      return stopHere(current, `${message} (it stays drained)`, o.signal?.aborted ? 'stopped' : 'failed');
    }
  }
  return { ok: true };
}
