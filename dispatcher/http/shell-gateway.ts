/**
 * `ws /shell?node=NAME&token=…&cols=80&rows=24`: the browser end of a node shell (admin only).
 * Browser → server: `{type:'input', data}`, `{type:'resize', cols, rows}`; server → browser:
 * the broker's `opened`, `output`, `exit` frames, or `{type:'error', message}` then a close.
 * A browser frame that is not one of those two (dispatcher/http/ws-frames.ts) gets
 * `{type:'error', code, message}` and is counted; the session stays open.
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { isPiclusterError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { ShellBroker } from '../shell-broker.ts';
import { bearer, roleOf, type AuthSettings } from './auth.ts';
import { UiCloseCode } from './ui-gateway.ts';
import { dropInput, guarded, type GuardSink } from '../guard.ts';
import { frameBytes, parseShellFrame } from './ws-frames.ts';

const FORBIDDEN = 4403;
const REFUSED = 4409;

function size(v: unknown, dflt: number): number {
  const n = typeof v === 'string' ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : dflt;
}

export function registerShellGateway(app: FastifyInstance, broker: ShellBroker, auth: AuthSettings, log: Logger, sink: GuardSink): void {
  app.get('/shell', { websocket: true, schema: { hide: true } }, (socket: WebSocket, req) => {
    const guard = <A extends unknown[]>(what: string, fn: (...a: A) => void) => guarded(sink, log, 'shell', what, fn);
    const send = (frame: unknown) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
    };
    const role = roleOf(bearer(req), auth);
    if (role !== 'admin') {
      send({ type: 'error', message: role ? 'a shell needs the admin token; the viewer token is read-only' : 'a valid admin token is required (?token=)' });
      socket.close(role ? FORBIDDEN : UiCloseCode.unauthorized, role ? 'forbidden' : 'unauthorized');
      return;
    }
    const q = req.query as Record<string, unknown>;
    const node = typeof q.node === 'string' ? q.node : '';
    let sessionId: string | undefined;
    try {
      sessionId = broker.open(
        node,
        'admin',
        req.socket.remoteAddress ?? 'unknown',
        { cols: size(q.cols, 80), rows: size(q.rows, 24) },
        {
          send,
          end: () => {
            sessionId = undefined;
            if (socket.readyState === socket.OPEN) socket.close(1000, 'session ended');
          },
        },
      );
    } catch (e) {
      send({ type: 'error', message: isPiclusterError(e) ? e.message : 'could not open a shell' });
      if (!isPiclusterError(e)) log.error({ err: e, node }, 'shell open failed');
      socket.close(REFUSED, 'refused');
      return;
    }
    socket.on(
      'message',
      guard('message', (raw: unknown) => {
        if (!sessionId) return;
        const parsed = parseShellFrame(frameBytes(raw));
        if (!parsed.ok) {
          dropInput(sink, 'shell', parsed.code);
          send({ type: 'error', code: parsed.code, message: parsed.message });
          return;
        }
        const m = parsed.frame;
        if (m.type === 'input') broker.input(sessionId, m.data);
        else broker.resize(sessionId, m.cols, m.rows);
      }),
    );
    socket.on(
      'close',
      guard('close', () => {
        if (sessionId) broker.close(sessionId, 'the browser closed the terminal');
      }),
    );
    socket.on(
      'error',
      guard('error', (err: Error) => log.debug({ err, node }, 'shell socket error')),
    );
  });
}
