/** The ui gateway's lifecycle additions: removed nodes and pushed alerts reach every browser. */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import type { Dispatcher } from '../dispatcher.ts';
import { UiGateway } from '../http/ui-gateway.ts';
import { UiHistory } from './history.ts';

class FakeDispatcher extends EventEmitter {
  listJobs() {
    return { jobs: [], total: 0 };
  }
  overview() {
    return { jobs: {}, queue: { ready: 0, delayed: 0, byGroup: {} }, staleResults: 0, strategy: 'round-robin' };
  }
  listNodes() {
    return [];
  }
}

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  frames: Record<string, unknown>[] = [];
  send(data: string) {
    this.frames.push(JSON.parse(data) as Record<string, unknown>);
  }
  ping() {}
  terminate() {}
  close() {
    this.readyState = 3;
  }
}

afterEach(() => vi.useRealTimers());

describe('UiGateway lifecycle deltas', () => {
  it('sends removed nodes (dropping their pending updates) and re-adds a node that came back in the same batch', async () => {
    vi.useFakeTimers();
    const d = new FakeDispatcher();
    const gw = new UiGateway(d as unknown as Dispatcher, new UiHistory({ now: () => 0 }), pino({ level: 'silent' }), { flushMs: 50 });
    const a = new FakeSocket();
    const b = new FakeSocket();
    gw.connect(a as unknown as WebSocket, 'admin');
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    gw.connect(b as unknown as WebSocket, 'viewer');
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    d.emit('node', { name: 'gone', state: 'online' });
    gw.nodeRemoved('gone');
    gw.nodeRemoved('back');
    d.emit('node', { name: 'back', state: 'offline' });
    await vi.advanceTimersByTimeAsync(50);
    for (const s of [a, b]) expect(s.frames[1]).toMatchObject({ type: 'delta', removed: ['gone'], nodes: [{ name: 'back' }] });
    gw.close();
  });

  it('pushes alerts: true when the alert source raises one, and stops listening on close', async () => {
    vi.useFakeTimers();
    const d = new FakeDispatcher();
    const alerts = new EventEmitter();
    const gw = new UiGateway(d as unknown as Dispatcher, new UiHistory({ now: () => 0 }), pino({ level: 'silent' }), { flushMs: 50, alertSource: alerts });
    const s = new FakeSocket();
    gw.connect(s as unknown as WebSocket, 'viewer');
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    alerts.emit('alert', { id: 1, kind: 'circuit-breaker' });
    alerts.emit('alert', { id: 2, kind: 'node-quarantined' });
    await vi.advanceTimersByTimeAsync(50);
    expect(s.frames.slice(1)).toEqual([{ type: 'delta', seq: 1, alerts: true }]);
    gw.close();
    expect(alerts.listenerCount('alert')).toBe(0);
  });
});
