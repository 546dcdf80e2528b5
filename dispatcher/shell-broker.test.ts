import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { Dispatcher } from './dispatcher.ts';
import { ShellBroker, type ShellToBrowser } from './shell-broker.ts';

/** Just the Dispatcher surface the broker uses. */
class FakeDispatcher extends EventEmitter {
  connected = true;
  sent: unknown[] = [];
  events: { node: string; kind: string; message: string; actor: string }[] = [];
  getNode(name: string) {
    if (name !== 'n1') throw Object.assign(new Error(`no node ${name}`), { code: 'NODE_NOT_FOUND' });
    return { name, connected: this.connected };
  }
  sendToNode(_name: string, msg: unknown) {
    if (!this.connected) return false;
    this.sent.push(msg);
    return true;
  }
  recordNodeEvent(node: string, kind: string, message: string, actor: string) {
    this.events.push({ node, kind, message, actor });
  }
}

function setup(idleTimeoutMs = 60_000) {
  const d = new FakeDispatcher();
  const broker = new ShellBroker(d as unknown as Dispatcher, pino({ level: 'silent' }), { idleTimeoutMs });
  const frames: ShellToBrowser[] = [];
  let ended = 0;
  const peer = { send: (f: ShellToBrowser) => frames.push(f), end: () => void ended++ };
  return { d, broker, frames, peer, ended: () => ended };
}

afterEach(() => vi.useRealTimers());

describe('ShellBroker', () => {
  it('opens a pty on the node, relays input, output and exit, and records who and when', () => {
    const { d, broker, frames, peer, ended } = setup();
    const id = broker.open('n1', 'admin', '127.0.0.1', { cols: 100, rows: 30 }, peer);
    expect(d.sent).toEqual([{ type: 'shell-open', sessionId: id, cols: 100, rows: 30 }]);
    expect(d.events[0]).toMatchObject({ node: 'n1', kind: 'shell', actor: 'admin', message: 'shell opened by admin from 127.0.0.1' });
    broker.input(id, 'echo hi\n');
    broker.resize(id, 120, 40);
    expect(d.sent.slice(1)).toEqual([
      { type: 'shell-input', sessionId: id, data: 'echo hi\n' },
      { type: 'shell-resize', sessionId: id, cols: 120, rows: 40 },
    ]);
    d.emit('agentShellFrame', { node: 'n1', message: { type: 'shell-output', sessionId: id, data: 'hi\r\n' } });
    d.emit('agentShellFrame', { node: 'other', message: { type: 'shell-output', sessionId: id, data: 'spoofed' } });
    d.emit('agentShellFrame', { node: 'n1', message: { type: 'shell-exit', sessionId: id, code: 0 } });
    expect(frames).toEqual([
      { type: 'opened', sessionId: id, node: 'n1' },
      { type: 'output', data: 'hi\r\n' },
      { type: 'exit', code: 0, reason: 'the shell exited' },
    ]);
    expect(ended()).toBe(1);
    expect(broker.size).toBe(0);
    expect(d.events[1]!.message).toMatch(/^shell of admin closed after \d+ s: the shell exited \(exit 0\)$/);
  });

  it('refuses nodes that are unknown or have no agent', () => {
    const { d, broker, peer } = setup();
    expect(() => broker.open('nope', 'admin', 'x', { cols: 80, rows: 24 }, peer)).toThrow(/no node/);
    d.connected = false;
    expect(() => broker.open('n1', 'admin', 'x', { cols: 80, rows: 24 }, peer)).toThrow(/no connected agent/);
    expect(d.events).toEqual([]);
  });

  it('closes an idle session and tells the agent', () => {
    vi.useFakeTimers();
    const { d, broker, frames, peer } = setup(1000);
    const id = broker.open('n1', 'admin', 'x', { cols: 80, rows: 24 }, peer);
    vi.advanceTimersByTime(900);
    broker.input(id, 'x');
    vi.advanceTimersByTime(900);
    expect(broker.size).toBe(1);
    vi.advanceTimersByTime(200);
    expect(broker.size).toBe(0);
    expect(d.sent.at(-1)).toEqual({ type: 'shell-close', sessionId: id });
    expect(frames.at(-1)).toMatchObject({ type: 'exit', reason: 'idle for 1 s' });
  });

  it('ends sessions when the agent disconnects', () => {
    const { d, broker, frames, peer } = setup();
    broker.open('n1', 'admin', 'x', { cols: 80, rows: 24 }, peer);
    d.emit('node', { name: 'n1', connected: false });
    expect(broker.size).toBe(0);
    expect(frames.at(-1)).toMatchObject({ type: 'exit', reason: 'the agent disconnected' });
  });
});
