/**
 * A minimal dispatcher for agent tests: a real `ws` server on a loopback port 0 that validates
 * every agent frame against the protocol, records them per connection, and answers hello with
 * a welcome (or whatever the test's `onHello` returns). With `tls` it serves wss from an https server.
 */
import { EventEmitter, once } from 'node:events';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { PROTOCOL_VERSION, parseAgentMessage, type AgentMessage, type DispatcherMessage, type MessageOf } from '../common/protocol.ts';

export type Frame = AgentMessage & { conn: number };
type Hello = MessageOf<AgentMessage, 'hello'>;
type Welcome = MessageOf<DispatcherMessage, 'welcome'>;

export interface HelloReply {
  /** Fields to override in the welcome; `false` = send nothing (the test answers itself). */
  welcome?: Partial<Welcome> | false;
}

export class FakeDispatcher extends EventEmitter {
  readonly frames: Frame[] = [];
  readonly invalid: string[] = [];
  readonly conns: WebSocket[] = [];
  onHello: (hello: Hello, conn: number) => HelloReply = () => ({});
  private constructor(
    private readonly wss: WebSocketServer,
    private readonly https?: HttpsServer,
  ) {
    super();
    wss.on('connection', (ws) => {
      const conn = this.conns.push(ws) - 1;
      ws.on('message', (data) => {
        const raw = (data as Buffer).toString('utf8');
        const parsed = parseAgentMessage(raw);
        if (!parsed.ok) {
          this.invalid.push(`${parsed.error}: ${raw.slice(0, 200)}`);
          return;
        }
        const frame = { ...parsed.message, conn } as Frame;
        this.frames.push(frame);
        if (frame.type === 'hello') {
          const reply = this.onHello(frame, conn);
          if (reply.welcome !== false)
            this.send(conn, {
              type: 'welcome',
              protocol: PROTOCOL_VERSION,
              node: frame.node.name,
              heartbeatMs: 60_000,
              slots: 2,
              abandon: [],
              serverTime: Date.now(),
              ...reply.welcome,
            });
        }
        this.emit('frame', frame);
      });
      this.emit('connection', conn);
    });
  }

  static async start(options: { autoPong?: boolean; tls?: { cert: string; key: string } } = {}): Promise<FakeDispatcher> {
    if (options.tls) {
      const https = createHttpsServer(options.tls, (_req, res) => res.writeHead(404).end('not the agent endpoint'));
      https.listen(0, '127.0.0.1');
      await once(https, 'listening');
      return new FakeDispatcher(new WebSocketServer({ server: https, path: '/agent', autoPong: options.autoPong ?? true }), https);
    }
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent', autoPong: options.autoPong ?? true });
    await once(wss, 'listening');
    return new FakeDispatcher(wss);
  }

  get url(): string {
    const address = (this.https ?? this.wss).address() as AddressInfo;
    return `${this.https ? 'wss' : 'ws'}://127.0.0.1:${address.port}/agent`;
  }

  send(conn: number, msg: DispatcherMessage | string): void {
    this.conns[conn]!.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** The first frame (already received or future) matching `pred`. */
  async frame<T extends Frame['type']>(
    type: T,
    pred: (f: Extract<Frame, { type: T }>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Extract<Frame, { type: T }>> {
    const match = (f: Frame): f is Extract<Frame, { type: T }> => f.type === type && pred(f as Extract<Frame, { type: T }>);
    const seen = this.frames.find(match);
    if (seen) return seen;
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const [f] = (await once(this, 'frame', { signal })) as [Frame];
      if (match(f)) return f;
    }
  }

  of<T extends Frame['type']>(type: T, pred: (f: Extract<Frame, { type: T }>) => boolean = () => true): Extract<Frame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<Frame, { type: T }> => f.type === type && pred(f as Extract<Frame, { type: T }>));
  }

  async close(): Promise<void> {
    for (const ws of this.conns) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    if (this.https) {
      this.https.closeAllConnections();
      await new Promise<void>((resolve) => this.https!.close(() => resolve()));
    }
  }
}
