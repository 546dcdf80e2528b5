import { describe, expect, it } from 'vitest';
import type { NodeView } from '../views.ts';
import { NodePatcher, patchOf } from './ui-node-patches.ts';

// The registry's views share their record's objects (labels, identity) until those change.
const labels = {};
const identity = { name: 'n1', cpus: 4, memoryMb: 4096, arch: 'arm64', platform: 'linux', agentVersion: '1', bootId: 'b' };
const view = (over: Partial<NodeView> = {}): NodeView =>
  ({
    name: 'n1',
    state: 'online',
    stateSince: 1,
    connected: true,
    labels,
    slots: 4,
    running: 0,
    boots: 1,
    jobsDone: 0,
    jobsFailed: 0,
    cpuMs: 0,
    source: 'agent',
    identity,
    ...over,
  }) as NodeView;

describe('NodePatcher', () => {
  it('sends a node whole the first time and when its static part changes, as a patch otherwise', () => {
    const p = new NodePatcher(1000);
    expect(p.rows([view()], 0).full).toHaveLength(1);
    const beat = p.rows([view({ health: { load1: 1 }, lastSeenAt: 5 })], 10);
    expect(beat.full).toEqual([]);
    expect(beat.patches).toEqual([patchOf(view({ health: { load1: 1 }, lastSeenAt: 5 }))]);
    expect(beat.patches[0]).toMatchObject({ name: 'n1', state: 'online', running: 0, stateReason: null, perf: null });
    expect(beat.patches[0]).not.toHaveProperty('labels');
    expect(p.rows([view({ labels: { rack: '2' } })], 20).full).toHaveLength(1);
    expect(p.rows([view({ labels: { rack: '2' }, model: 'Pi 5' })], 30).full).toHaveLength(1);
  });

  it('holds back health-only changes per node in a large cluster, never a state or job change', () => {
    const p = new NodePatcher(10); // budget: 10 health updates a second
    const names = Array.from({ length: 50 }, (_, i) => `n${i}`);
    p.rows(
      names.map((name) => view({ name })),
      0,
    );
    expect(p.minHealthMs(50)).toBe(5000);
    const beat = (at: number, over: Partial<NodeView> = {}) => view({ health: { load1: at }, lastSeenAt: at, ...over });
    const early = p.rows([beat(1000)], 1000);
    expect(early.patches).toEqual([]);
    expect(early.deferred.map((v) => v.lastSeenAt)).toEqual([1000]);
    expect(p.rows([beat(2000, { running: 1 })], 2000).patches).toHaveLength(1);
    expect(p.rows([beat(3000, { running: 1 })], 3000).deferred).toHaveLength(1);
    expect(p.rows([beat(7000, { running: 1 })], 7000).patches).toHaveLength(1);
  });

  it('a small cluster gets every heartbeat', () => {
    const p = new NodePatcher(1000);
    p.rows([view()], 0);
    expect(p.minHealthMs(1000)).toBe(0);
    expect(p.rows([view({ health: { load1: 2 } })], 1).patches).toHaveLength(1);
    expect(p.rows([view({ health: { load1: 3 } })], 2).patches).toHaveLength(1);
  });
});
