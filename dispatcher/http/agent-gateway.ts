/**
 * `ws /agent`: one WebSocket per agent. The first frame must be `hello` (within
 * `helloTimeoutMs`); then every frame is validated and handed to the Dispatcher.
 * Malformed frames get an `error` frame and a counter, never a crash; every socket callback and
 * the hello timer run guarded (dispatcher/guard.ts), so nothing an agent sends ends the master.
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import type { Logger } from '../../common/logger.ts';
import { CloseCode, parseAgentMessage, type DispatcherMessage } from '../../common/protocol.ts';
import type { Dispatcher } from '../dispatcher.ts';
import type { AgentLink } from '../node-runtime.ts';
import { guarded, reportHandlerError } from '../guard.ts';
import { frameBytes } from './ws-frames.ts';

/**
 * Until hello is accepted, nobody is authenticated: frames are capped this small (a hello with
 * 1024 running attempt ids is ~10 KiB). ws enforces it while receiving (close 1009, nothing
 * buffered past the cap) through its receiver's `_maxPayload`, raised to the app's limit after
 * hello; the gateway also checks the size itself in case a ws version renames that field.
 */
export const PRE_HELLO_MAX_BYTES = 16 * 1024;

type Receiver = { _maxPayload?: number };
function receiverOf(socket: WebSocket): Receiver | undefined {
  const r = (socket as unknown as { _receiver?: Receiver })._receiver;
  return r && typeof r._maxPayload === 'number' ? r : undefined;
}

export interface AgentGatewayOptions {
  readonly helloTimeoutMs?: number;
  /** Frames larger than this are refused by ws (results carry bounded output). */
  readonly maxPayloadBytes?: number;
}

class WsLink implements AgentLink {
  constructor(private readonly socket: WebSocket) {}
  send(message: DispatcherMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }
  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }
  close(code: number, reason: string): void {
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) this.socket.close(code, reason);
  }
  private get raw(): { cork(): void; uncork(): void } | undefined {
    return (this.socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
  }
  cork(): void {
    this.raw?.cork();
  }
  uncork(): void {
    this.raw?.uncork();
  }
}

export function registerAgentGateway(app: FastifyInstance, dispatcher: Dispatcher, log: Logger, options: AgentGatewayOptions = {}): void {
  const helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
  app.get('/agent', { websocket: true, schema: { hide: true } }, (socket: WebSocket, req) => {
    const link = new WsLink(socket);
    let node: string | undefined;
    const receiver = receiverOf(socket);
    const fullMaxPayload = receiver?._maxPayload;
    if (receiver) receiver._maxPayload = PRE_HELLO_MAX_BYTES;
    const remote = req.socket.remoteAddress;
    const guard = <A extends unknown[]>(what: string, fn: (...a: A) => void) => guarded(dispatcher, log, 'agent', what, fn);
    const helloTimer = setTimeout(
      guard('hello timeout', () => {
        if (!node) link.close(CloseCode.refused, 'no hello received');
      }),
      helloTimeoutMs,
    );

    const onMessage = (data: unknown): void => {
      const bytes = frameBytes(data);
      if (!node && bytes.length > PRE_HELLO_MAX_BYTES) {
        dispatcher.emit('protocolError', { code: 'TOO_LARGE' });
        link.close(1009, 'frame too large before hello');
        return;
      }
      const parsed = parseAgentMessage(bytes);
      if (!parsed.ok) {
        dispatcher.emit('protocolError', { ...(node ? { node } : {}), code: parsed.code });
        log.debug({ node, remote, error: parsed.error }, 'malformed agent frame dropped');
        link.send({ type: 'error', code: parsed.code, message: parsed.error });
        return;
      }
      const msg = parsed.message;
      if (!node) {
        if (msg.type !== 'hello') {
          dispatcher.emit('protocolError', { code: 'HELLO_FIRST' });
          link.send({ type: 'error', code: 'HELLO_FIRST', message: `the first frame must be hello, got ${msg.type}` });
          return;
        }
        let outcome: ReturnType<Dispatcher['agentHello']>;
        try {
          outcome = dispatcher.agentHello(msg, link);
        } catch (e) {
          reportHandlerError(dispatcher, log, 'agent', 'hello', e);
          link.send({ type: 'error', code: 'INTERNAL', message: 'the dispatcher could not register this agent; retry' });
          link.close(CloseCode.lost, 'hello failed');
          return;
        }
        if (!outcome.ok) {
          dispatcher.emit('protocolError', { code: outcome.code });
          log.warn({ node: msg.node.name, remote, code: outcome.code }, 'agent refused');
          link.send({ type: 'refused', code: outcome.code, message: outcome.message });
          link.close(CloseCode.refused, outcome.code);
          return;
        }
        node = outcome.node;
        if (receiver && fullMaxPayload !== undefined) receiver._maxPayload = fullMaxPayload;
        clearTimeout(helloTimer);
        return;
      }
      try {
        dispatcher.agentMessage(node, link, msg);
      } catch (e) {
        reportHandlerError(dispatcher, log, 'agent', msg.type, e);
        link.send({ type: 'error', code: 'INTERNAL', message: 'the dispatcher could not handle this frame' });
      }
    };
    socket.on('message', guard('message', onMessage));
    socket.on(
      'close',
      guard('close', (code: number) => {
        clearTimeout(helloTimer);
        if (node) dispatcher.agentDisconnected(node, link, code === 1000 || code === 1001);
      }),
    );
    socket.on(
      'error',
      guard('error', (err: Error) => log.debug({ err, node }, 'agent socket error')),
    );
  });
}
