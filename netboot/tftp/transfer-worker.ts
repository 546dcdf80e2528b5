/**
 * A TFTP transfer worker: runs `Session`s (session.ts) on its own event loop, so the
 * kernel work of sending — most of a TFTP server's CPU — spreads over cores. Each
 * transfer still gets its own socket bound to the boot address and connected to the
 * client; the file bytes are a view of the main thread's SharedArrayBuffer cache.
 * The main thread keeps admission, file lookup, metrics and boot events (workers.ts).
 */
import dgram from 'node:dgram';
import { parentPort } from 'node:worker_threads';
import { realTimers, Session } from './session.ts';
import type { FromWorker, ToWorker, WorkerStart } from './worker-protocol.ts';

const port = parentPort!;
const sessions = new Map<number, Session>();
/** Aborted before their socket was ready. */
const aborted = new Set<number>();
const post = (m: FromWorker): void => port.postMessage(m);

function ended(id: number, outcome: string, reason: string): void {
  post({ type: 'end', id, end: { outcome, reason, bytesAcked: 0, bytesSent: 0, retransmits: 0, acknowledged: false } });
}

function start(m: WorkerStart): void {
  const socket = dgram.createSocket({ type: 'udp4' });
  const fail = (e: Error): void => {
    try {
      socket.close();
    } catch {
      // not open
    }
    ended(m.id, 'error', `transfer socket failed: ${e.message}`);
  };
  socket.once('error', fail);
  socket.bind({ port: 0, address: m.bindAddress, exclusive: true }, () => {
    // connect() throws synchronously on a bad port/address; inside this callback nothing else would catch it.
    try {
      connect();
    } catch (e) {
      fail(e instanceof Error ? e : new Error(String(e)));
    }
  });
  function connect(): void {
    socket.connect(m.clientPort, m.clientAddress, () => {
      socket.off('error', fail);
      if (aborted.delete(m.id)) {
        socket.close();
        ended(m.id, 'aborted', 'aborted before start');
        return;
      }
      const session = new Session(
        socket,
        {
          data: Buffer.from(m.buffer, m.byteOffset, m.length),
          blksize: m.blksize,
          windowsize: m.windowsize,
          oack: m.oack ? Buffer.from(m.oack.buffer, m.oack.byteOffset, m.oack.byteLength) : undefined,
          maxRetries: m.maxRetries,
          maxRetriesBeforeAck: m.maxRetriesBeforeAck,
          retransmitMs: m.retransmitMs,
        },
        realTimers,
        {
          onEnd: (end) => {
            sessions.delete(m.id);
            post({ type: 'end', id: m.id, end });
          },
          onIgnored: (reason) => post({ type: 'ignored', reason }),
          onFault: (err) => post({ type: 'fault', id: m.id, message: err instanceof Error ? err.message : String(err) }),
        },
      );
      sessions.set(m.id, session);
      session.begin();
    });
  }
}

port.on('message', (m: ToWorker) => {
  try {
    if (m.type === 'start') start(m);
    else {
      const s = sessions.get(m.id);
      if (s) s.end('aborted', m.reason);
      else aborted.add(m.id);
    }
  } catch (e) {
    if (m.type === 'start') ended(m.id, 'error', e instanceof Error ? e.message : String(e));
  }
});

post({ type: 'ready' });
