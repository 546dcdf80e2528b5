/**
 * `ws /shell?node=NAME&token=…&cols=80&rows=24`: the browser end of a node shell (admin only).
 * Browser → server: `{type:'input', data}`, `{type:'resize', cols, rows}`; server → browser:
 * the broker's `opened`, `output`, `exit` frames, or `{type:'error', message}` then a close.
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { isPiclusterError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { ShellBroker } from '../shell-broker.ts';
import { bearer, roleOf, type AuthSettings } from './auth.ts';
import { UiCloseCode } from './ui-gateway.ts';

const FORBIDDEN = 4403;
const REFUSED = 4409;

function size(v: unknown, dflt: number): number {
  const n = typeof v === 'string' ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : dflt;
}

export function registerShellGateway(app: FastifyInstance, broker: ShellBroker, auth: AuthSettings, log: Logger): void {
  app.get('/shell', { websocket: true, schema: { hide: true } }, (socket: WebSocket, req) => {
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
    socket.on('message', (raw) => {
      if (!sessionId) return;
      let m: { type?: unknown; data?: unknown; cols?: unknown; rows?: unknown };
      try {
        m = JSON.parse(raw.toString()) as typeof m;
      } catch {
        return;
      }
      if (m.type === 'input' && typeof m.data === 'string') broker.input(sessionId, m.data);
      else if (m.type === 'resize') broker.resize(sessionId, size(String(m.cols), 80), size(String(m.rows), 24));
    });
    socket.on('close', () => {
      if (sessionId) broker.close(sessionId, 'the browser closed the terminal');
    });
    socket.on('error', (err) => log.debug({ err, node }, 'shell socket error'));
  });
}
