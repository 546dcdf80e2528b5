import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Dispatcher } from '../dispatcher.ts';
import { UiHistory } from './history.ts';

const clock = (t: { now: number }) => ({ now: () => t.now });
const job = (id: number, state: string, finishedAt?: number) => ({ id, state, ...(finishedAt !== undefined ? { finishedAt } : {}) }) as never;

describe('UiHistory', () => {
  it('counts each finished job once, in the minute it finished, over the last hour', () => {
    const t = { now: 10 * 60_000 + 5_000 };
    const h = new UiHistory(clock(t), { minutes: 3 });
    const d = new EventEmitter();
    h.attach(d as unknown as Dispatcher);
    d.emit('job', job(1, 'running'));
    d.emit('job', job(1, 'succeeded', t.now));
    d.emit('job', job(1, 'succeeded', t.now)); // the same change seen twice
    d.emit('job', job(2, 'failed', t.now - 60_000));
    d.emit('job', job(3, 'cancelled', t.now));
    const tp = h.throughput();
    expect(tp.map((c) => c.t)).toEqual([8 * 60_000, 9 * 60_000, 10 * 60_000]);
    expect(tp[2]).toMatchObject({ succeeded: 1, failed: 0, cancelled: 1 });
    t.now += 5 * 60_000;
    expect(h.throughput().every((c) => c.succeeded === 0 && c.failed === 0)).toBe(true);
  });

  it('samples node health at most once per interval and keeps a bounded ring', () => {
    const h = new UiHistory(clock({ now: 0 }), { sampleEveryMs: 1000, samplesPerNode: 3 });
    for (let at = 0; at < 10_000; at += 500)
      h.onNode({ name: 'n1', lastSeenAt: at, health: { cpuPercent: at / 100, memTotalMb: 1000, memAvailableMb: 250 } } as never);
    const s = h.healthOf('n1');
    expect(s.map((x) => x.t)).toEqual([7000, 8000, 9000]);
    expect(s[0]).toMatchObject({ cpuPercent: 70, memUsedPercent: 75 });
    expect(h.healthOf('unknown')).toEqual([]);
  });

  it('keeps the most recent node and boot events, newest first', () => {
    const h = new UiHistory(clock({ now: 0 }), { feedSize: 2 });
    const d = new EventEmitter();
    const detach = h.attach(d as unknown as Dispatcher);
    d.emit('nodeEvent', { node: 'a', at: 1, kind: 'state', message: 'x', actor: 'system' });
    d.emit('bootEvent', { kind: 'dhcp-discover', at: 2, outcome: 'answered' });
    d.emit('nodeEvent', { node: 'a', at: 3, kind: 'hello', message: 'y', actor: 'agent' });
    expect(h.recentEvents().map((e) => e.at)).toEqual([3, 2]);
    detach();
    expect(d.listenerCount('job')).toBe(0);
  });
});
