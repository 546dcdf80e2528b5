import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { WebSocket } from 'ws';
import type { Dispatcher } from '../dispatcher.ts';
import { UiHistory } from '../ui/history.ts';
import { UiGateway } from './ui-gateway.ts';

class FakeDispatcher extends EventEmitter {
  listJobs() {
    return { jobs: [], total: 0 };
  }
  overview() {
    return {
      jobs: { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
      queue: { ready: 0, delayed: 0, byGroup: {} },
      staleResults: 0,
      strategy: 'round-robin',
    };
  }
  listNodes() {
    return [{ name: 'n1', state: 'online' }];
  }
}

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  frames: { type: string; seq: number; nodes?: { name: string; running: number }[]; output?: unknown }[] = [];
  send(data: string) {
    this.frames.push(JSON.parse(data));
  }
  ping() {}
  terminate() {}
  close() {
    this.readyState = 3;
  }
}

function setup() {
  const d = new FakeDispatcher();
  const history = new UiHistory({ now: () => 0 });
  const gw = new UiGateway(d as unknown as Dispatcher, history, pino({ level: 'silent' }), { flushMs: 50 });
  const connect = () => {
    const s = new FakeSocket();
    gw.connect(s as unknown as WebSocket, 'viewer');
    return s;
  };
  return { d, gw, connect };
}

afterEach(() => vi.useRealTimers());

describe('UiGateway', () => {
  it('sends a snapshot, then one coalesced delta per flush to every browser', async () => {
    vi.useFakeTimers();
    const { d, gw, connect } = setup();
    const a = connect();
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    const b = connect();
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    expect(a.frames[0]).toMatchObject({ type: 'snapshot', seq: 0, role: 'viewer', nodes: [{ name: 'n1' }] });
    for (let i = 0; i < 100; i++) d.emit('node', { name: 'n1', running: i });
    d.emit('node', { name: 'n2', running: 0 });
    await vi.advanceTimersByTimeAsync(50);
    for (const s of [a, b]) {
      expect(s.frames).toHaveLength(2);
      expect(s.frames[1]).toMatchObject({ type: 'delta', seq: 1, nodes: [{ name: 'n1', running: 99 }, { name: 'n2' }] });
    }
    gw.close();
  });

  it('one flush at a time: a flush started while another awaits the job counts goes out after it, newest rows last', async () => {
    const { d, gw, connect } = setup();
    const a = connect();
    await vi.waitFor(() => expect(a.frames).toHaveLength(1));
    let release!: () => void;
    const counts = new Promise<void>((r) => (release = r));
    const overview = d.overview.bind(d);
    (d as unknown as { overview: () => Promise<unknown> }).overview = async () => {
      await counts;
      return overview();
    };
    d.emit('job', { id: 1, name: 'j', state: 'queued', group: 'default', priority: 0, attempts: 0, submittedAt: 0, spec: { kind: 'exec', argv: ['x'] } });
    d.emit('node', { name: 'n1', running: 1 });
    const first = gw.flush(); // awaits the job counts
    d.emit('node', { name: 'n1', running: 2 });
    const second = gw.flush();
    release();
    await Promise.all([first, second]);
    const deltas = a.frames.filter((f) => f.type === 'delta');
    expect(deltas.map((f) => f.seq)).toEqual([1, 2]);
    const running = (f: (typeof deltas)[number]) => (f.nodes ?? (f as { patches?: { running: number }[] }).patches)?.[0]?.running;
    expect(deltas.map(running)).toEqual([1, 2]);
    gw.close();
  });

  it('skips a browser that falls behind and resynchronises it with a snapshot once drained', async () => {
    vi.useFakeTimers();
    const { d, gw, connect } = setup();
    const fast = connect();
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    const slow = connect();
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    slow.bufferedAmount = 100 * 1024 * 1024;
    d.emit('node', { name: 'n1', running: 1 });
    await vi.advanceTimersByTimeAsync(50);
    expect(fast.frames.map((f) => f.type)).toEqual(['snapshot', 'delta']);
    expect(slow.frames.map((f) => f.type)).toEqual(['snapshot']);
    slow.bufferedAmount = 0;
    await vi.advanceTimersByTimeAsync(500);
    expect(slow.frames.map((f) => f.type)).toEqual(['snapshot', 'snapshot']);
    d.emit('node', { name: 'n1', running: 2 });
    await vi.advanceTimersByTimeAsync(50);
    // n1 was sent whole once; a change of its dynamic fields only goes out as a patch.
    expect(slow.frames.at(-1)).toMatchObject({ type: 'delta', patches: [{ name: 'n1', running: 2 }] });
    expect(slow.frames.at(-1)?.nodes).toBeUndefined();
    gw.close();
  });

  it('streams job output only to browsers watching that job', async () => {
    vi.useFakeTimers();
    const { d, gw, connect } = setup();
    const watcher = connect();
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    const other = connect();
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    watcher.emit('message', Buffer.from(JSON.stringify({ type: 'watch', jobId: 7 })));
    d.emit('output', { attemptId: 1, jobId: 7, stream: 'stdout', data: 'hello' });
    d.emit('output', { attemptId: 2, jobId: 8, stream: 'stdout', data: 'not watched' });
    await vi.advanceTimersByTimeAsync(50);
    expect(watcher.frames.at(-1)).toMatchObject({ type: 'delta', output: { jobId: 7, chunks: [{ stream: 'stdout', data: 'hello' }] } });
    expect(other.frames.at(-1)?.output).toBeUndefined();
    gw.close();
  });
});

describe('UiGateway resync throttle', () => {
  it('sends at most one snapshot per resyncMinMs; resyncs asked sooner collapse into one sent when the time is up', async () => {
    vi.useFakeTimers();
    const d = new FakeDispatcher();
    const gw = new UiGateway(d as unknown as Dispatcher, new UiHistory({ now: () => 0 }), pino({ level: 'silent' }), { flushMs: 50, resyncMinMs: 1000 });
    const s = new FakeSocket();
    gw.connect(s as unknown as WebSocket, 'viewer');
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    for (let i = 0; i < 50; i++) s.emit('message', Buffer.from('{"type":"resync"}'));
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    expect(s.frames.filter((f) => f.type === 'snapshot')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.frames.filter((f) => f.type === 'snapshot')).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.frames.filter((f) => f.type === 'snapshot')).toHaveLength(2);
    gw.close();
  });
});

describe('UiGateway snapshot backpressure', () => {
  it('does not pile a snapshot on a socket that is not reading; resyncs it once drained', async () => {
    vi.useFakeTimers();
    const { gw, connect } = setup();
    const s = connect();
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    s.bufferedAmount = 100 * 1024 * 1024;
    await vi.advanceTimersByTimeAsync(2000);
    s.emit('message', Buffer.from('{"type":"resync"}'));
    await vi.advanceTimersByTimeAsync(0); // the snapshot reads the store
    await vi.advanceTimersByTimeAsync(2000);
    expect(s.frames.filter((f) => f.type === 'snapshot')).toHaveLength(1);
    s.bufferedAmount = 0;
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.frames.filter((f) => f.type === 'snapshot')).toHaveLength(2);
    gw.close();
  });
});
