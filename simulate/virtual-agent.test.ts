/**
 * A virtual agent whose connection the master closes reconnects with backoff (it did not: at
 * 5,000 nodes a starved simulator lost nodes for good), and the backoff grows and is capped.
 * The "master" is a small WebSocket server on loopback that welcomes every hello and closes
 * the first connection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { PROTOCOL_VERSION, type AgentMessage } from '../common/protocol.ts';
import { Fleet } from './fleet.ts';
import { reconnectDelayMs, VirtualAgent } from './virtual-agent.ts';

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

describe('virtual agent reconnects', () => {
  it('backoff: 0.5 s doubling to 30 s, jittered ×0.5–1.5', () => {
    expect(reconnectDelayMs(0, () => 0.5)).toBe(500);
    expect(reconnectDelayMs(3, () => 0.5)).toBe(4000);
    expect(reconnectDelayMs(20, () => 0.5)).toBe(30_000);
    expect(reconnectDelayMs(0, () => 0)).toBe(250);
    expect(reconnectDelayMs(100, () => 0.999)).toBeLessThanOrEqual(45_000);
  });

  it('a connection the master closes after the welcome is reopened with a new hello', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    servers.push(wss);
    await new Promise((r) => wss.once('listening', r));
    const hellos: string[] = [];
    let second: () => void;
    const reconnected = new Promise<void>((r) => (second = r));
    wss.on('connection', (ws: WebSocket) => {
      ws.on('message', (raw: Buffer) => {
        const m = JSON.parse(raw.toString()) as AgentMessage;
        if (m.type !== 'hello') return;
        hellos.push(m.node.bootId);
        ws.send(
          JSON.stringify({ type: 'welcome', protocol: PROTOCOL_VERSION, node: m.node.name, heartbeatMs: 1000, slots: 1, abandon: [], serverTime: Date.now() }),
        );
        if (hellos.length === 1) setImmediate(() => ws.close(4000, 'lost'));
        else second();
      });
    });
    const closed: number[] = [];
    const agent = new VirtualAgent({
      url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/agent`,
      name: 'sim-1',
      token: 't',
      slots: 1,
      jobMs: 10,
      random: () => 0, // shortest backoff: 250 ms
      now: Date.now,
      events: { assigned: () => {}, acked: () => {}, refused: () => {}, closed: (_n, code) => void closed.push(code) },
    });
    await agent.connect();
    await reconnected;
    expect(closed).toEqual([4000]);
    expect(agent.reconnects).toBe(1);
    expect(hellos).toHaveLength(2);
    expect(hellos[1]).toBe(hellos[0]); // the same boot: a reconnect, not a reboot
    agent.stop();
  });

  it("a fleet's first connect that fails before the welcome (not refused) is retried", async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    servers.push(wss);
    await new Promise((r) => wss.once('listening', r));
    let connections = 0;
    wss.on('connection', (ws: WebSocket) => {
      if (++connections === 1) return void ws.terminate(); // a loaded master dropping the first try
      ws.on('message', (raw: Buffer) => {
        const m = JSON.parse(raw.toString()) as AgentMessage;
        if (m.type === 'hello')
          ws.send(
            JSON.stringify({
              type: 'welcome',
              protocol: PROTOCOL_VERSION,
              node: m.node.name,
              heartbeatMs: 1000,
              slots: 1,
              abandon: [],
              serverTime: Date.now(),
            }),
          );
      });
    });
    const fleet = new Fleet({ url: `http://127.0.0.1:${(wss.address() as { port: number }).port}`, clusterSecret: 's', nodes: 1 });
    await fleet.start();
    expect(fleet.stats()).toMatchObject({ welcomed: 1, connectRetries: 1, reconnects: 0 });
    fleet.stop();
  });
});
