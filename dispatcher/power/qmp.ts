/**
 * A minimal QMP client (QEMU Machine Protocol, JSON lines): connect, read the greeting, negotiate
 * `qmp_capabilities`, run commands matched to their replies by `id` (events are skipped). One
 * connection per driver action: a QMP chardev serves one client at a time.
 */
import { createConnection, type Socket } from 'node:net';
import { PowerRefusedError, PowerTimeoutError, PowerUnreachableError } from './errors.ts';

export type QmpTarget = { readonly path: string } | { readonly host: string; readonly port: number };

/** `unix:/run/vm.sock`, `/run/vm.sock` or `tcp:127.0.0.1:4444`. */
export function parseQmpTarget(spec: string): QmpTarget | undefined {
  const tcp = /^tcp:(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(spec);
  if (tcp) return { host: tcp[1]!.replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
  const unix = /^(?:unix:)?(\/.+)$/.exec(spec);
  return unix ? { path: unix[1]! } : undefined;
}

export interface QmpConnection {
  execute(command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Resolves when QEMU closed the connection (after `quit`), or rejects after `timeoutMs`. */
  closed(): Promise<void>;
  close(): void;
}

export async function qmpConnect(target: QmpTarget, timeoutMs: number, label: string): Promise<QmpConnection> {
  const socket: Socket = 'path' in target ? createConnection(target.path) : createConnection(target.port, target.host);
  socket.setEncoding('utf8');
  let buffer = '';
  let nextId = 1;
  let isClosed = false;
  const waiters: { match: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  const closeWaiters: (() => void)[] = [];
  let failure: Error | undefined;
  const fail = (e: Error) => {
    failure ??= e;
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const i = waiters.findIndex((w) => w.match(msg));
      if (i >= 0) waiters.splice(i, 1)[0]!.resolve(msg);
    }
  });
  socket.on('error', (e: NodeJS.ErrnoException) =>
    fail(new PowerUnreachableError(`${label}: QMP ${e.code ?? e.message}`, { cause: e, details: { errno: e.code } })),
  );
  socket.on('close', () => {
    isClosed = true;
    fail(new PowerUnreachableError(`${label}: QMP connection closed`, { details: { errno: 'ECLOSED' } }));
    for (const c of closeWaiters.splice(0)) c();
  });
  const next = (match: (m: Record<string, unknown>) => boolean, what: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (failure) return reject(failure);
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        reject(new PowerTimeoutError(`${label}: no QMP answer to ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (m: Record<string, unknown>) => (clearTimeout(timer), resolve(m)),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      waiters.push(waiter);
    });
  const execute = async (command: string, args?: Record<string, unknown>): Promise<unknown> => {
    const id = nextId++;
    const reply = next((m) => m['id'] === id && ('return' in m || 'error' in m), command);
    socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    const m = await reply;
    if (m['error']) {
      const err = m['error'] as { class?: string; desc?: string };
      throw new PowerRefusedError(`${label}: QMP ${command} failed: ${err.desc ?? err.class ?? 'error'}`, { details: { qmpClass: err.class } });
    }
    return m['return'];
  };
  try {
    await next((m) => 'QMP' in m, 'the greeting');
    await execute('qmp_capabilities');
  } catch (e) {
    socket.destroy();
    throw e;
  }
  return {
    execute,
    closed: () =>
      isClosed
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new PowerTimeoutError(`${label}: QEMU did not exit within ${timeoutMs} ms`)), timeoutMs);
            closeWaiters.push(() => (clearTimeout(timer), resolve()));
          }),
    close: () => socket.destroy(),
  };
}
