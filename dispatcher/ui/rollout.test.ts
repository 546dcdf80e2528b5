import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { rollingReboot, rolloutProblems, type RolloutDeps } from './src/rollout.ts';
import type { NodeView } from './src/types.ts';

const view = (name: string, over: Partial<NodeView> = {}): NodeView =>
  ({
    name,
    state: 'online',
    stateSince: 0,
    connected: true,
    labels: {},
    slots: 2,
    running: 0,
    boots: 1,
    jobsDone: 0,
    jobsFailed: 0,
    cpuMs: 0,
    source: 'agent',
    bootId: `${name}-boot-1`,
    ...over,
  }) as NodeView;

/** A fake cluster: actions change nodes synchronously; `until` resolves on the next change that satisfies it. */
function fakeCluster(names: string[], behaviour: { neverBack?: string; image?: string } = {}) {
  const nodes = new Map(names.map((n) => [n, view(n, { running: 1 })]));
  const changes = new EventEmitter();
  const log: string[] = [];
  const set = (n: string, over: Partial<NodeView>) => {
    nodes.set(n, { ...nodes.get(n)!, ...over });
    changes.emit('change');
  };
  const deps: RolloutDeps = {
    async action(n, a) {
      log.push(`${a} ${n}`);
      if (a === 'drain') queueMicrotask(() => set(n, { state: 'drained', running: 0 }));
      if (a === 'reboot') {
        set(n, { state: 'rebooting', connected: false });
        if (behaviour.neverBack !== n)
          queueMicrotask(() =>
            set(n, { state: 'online', connected: true, bootId: `${n}-boot-2`, ...(behaviour.image ? { imageVersion: behaviour.image } : {}) }),
          );
      }
      if (a === 'undrain') set(n, { state: 'online' });
    },
    node: (n) => nodes.get(n),
    until: (n, pred, timeoutMs, what, signal) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (pred(nodes.get(n))) {
            changes.off('change', check);
            clearTimeout(t);
            resolve(nodes.get(n)!);
          }
        };
        const t = setTimeout(() => (changes.off('change', check), reject(new Error(`timed out waiting for ${what}`))), timeoutMs);
        signal?.addEventListener('abort', () => (changes.off('change', check), clearTimeout(t), reject(new Error('stopped by the operator'))));
        changes.on('change', check);
        check();
      }),
  };
  return { deps, log, nodes };
}

describe('rolling reboot (browser side of picluster rollout)', () => {
  it('drains, waits for running 0, reboots, waits for a new boot id, undrains: batch by batch', async () => {
    const c = fakeCluster(['a', 'b', 'c']);
    const steps: string[] = [];
    const r = await rollingReboot(['a', 'b', 'c'], { batch: 2, drainTimeoutMs: 1000, bootTimeoutMs: 1000 }, c.deps, (n, s) => steps.push(`${n}:${s}`));
    expect(r).toEqual({ ok: true });
    expect(c.log).toEqual(['drain a', 'drain b', 'reboot a', 'reboot b', 'undrain a', 'undrain b', 'drain c', 'reboot c', 'undrain c']);
    expect(steps.filter((s) => s.endsWith(':done'))).toEqual(['a:done', 'b:done', 'c:done']);
    for (const n of ['a', 'b', 'c']) expect(c.nodes.get(n)).toMatchObject({ state: 'online', bootId: `${n}-boot-2` });
  });

  it('stops at the first node that does not come back; later nodes are not touched', async () => {
    const c = fakeCluster(['a', 'b', 'c'], { neverBack: 'a' });
    const last = new Map<string, string>();
    const r = await rollingReboot(['a', 'b', 'c'], { batch: 1, drainTimeoutMs: 1000, bootTimeoutMs: 50 }, c.deps, (n, s) => last.set(n, s));
    expect(r.ok).toBe(false);
    expect(r.failedAt).toBe('a');
    expect(r.error).toMatch(/timed out waiting for a to come back.*stays drained/);
    expect(c.log).toEqual(['drain a', 'reboot a']);
    expect(Object.fromEntries(last)).toEqual({ a: 'failed', b: 'not touched', c: 'not touched' });
  });

  it('fails a node that came back on the wrong image', async () => {
    const c = fakeCluster(['a'], { image: 'v1' });
    const r = await rollingReboot(['a'], { batch: 1, drainTimeoutMs: 1000, bootTimeoutMs: 1000, imageVersion: 'v2' }, c.deps, () => {});
    expect(r).toMatchObject({ ok: false, failedAt: 'a' });
    expect(r.error).toMatch(/image v1, expected v2/);
    expect(c.log).not.toContain('undrain a');
  });

  it('stops when the operator aborts', async () => {
    const c = fakeCluster(['a', 'b'], { neverBack: 'a' });
    const ctl = new AbortController();
    const run = rollingReboot(['a', 'b'], { batch: 1, drainTimeoutMs: 1000, bootTimeoutMs: 10_000, signal: ctl.signal }, c.deps, (n, s) => {
      if (n === 'a' && s === 'rebooting') ctl.abort();
    });
    const r = await run;
    expect(r).toMatchObject({ ok: false, failedAt: 'a' });
    expect(r.error).toMatch(/stopped by the operator/);
    expect(c.log).toEqual(['drain a', 'reboot a']);
  });

  it('names the nodes it cannot start on', () => {
    const nodes = new Map([
      ['a', view('a')],
      ['b', view('b', { connected: false })],
      ['m', view('m', { state: 'maintenance' })],
    ]);
    expect(rolloutProblems(['a', 'b', 'm', 'zz'], (n) => nodes.get(n))).toEqual([
      'b: its agent is not connected (use power cycle)',
      'm: in maintenance',
      'zz: no such node',
    ]);
  });
});
