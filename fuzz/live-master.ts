/**
 * A master as hostile-input tests and the fuzzer see it: `buildApp` with the UI plugin (no asset
 * build), a real listening socket on 127.0.0.1:0, and small ws peers that collect every frame.
 * The store is given (MemoryStore by default) so tests can make it fail.
 */
import { once } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { ManualClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { PROTOCOL_VERSION } from '../common/protocol.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { Dispatcher, type DispatcherDeps } from '../dispatcher/dispatcher.ts';
import { buildApp, type AppDeps } from '../dispatcher/http/app.ts';
import { createMetrics } from '../dispatcher/metrics.ts';
import { MemoryStore } from '../dispatcher/store/memory-store.ts';
import { asyncStore } from '../dispatcher/store/async-adapter.ts';
import type { Store } from '../dispatcher/store/store.ts';
import { uiPlugin } from '../dispatcher/ui/plugin.ts';

export const ADMIN = 'admin-token-0123456789abcdef';
export const VIEWER = 'viewer-token-0123456789abcdef';
export const SECRET = 'cluster-secret-0123456789abcdef';

export interface LiveMaster {
  readonly app: FastifyInstance;
  readonly dispatcher: Dispatcher;
  readonly clock: ManualClock;
  /** `ws://127.0.0.1:port` */
  readonly wsUrl: string;
  readonly httpUrl: string;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

export async function startLiveMaster(options: { store?: Store; app?: Partial<AppDeps>; limits?: DispatcherDeps['limits'] } = {}): Promise<LiveMaster> {
  const clock = new ManualClock();
  const log = silentLogger();
  const dispatcher = new Dispatcher({
    store: asyncStore(options.store ?? new MemoryStore()),
    clock,
    log,
    clusterSecret: SECRET,
    ...(options.limits ? { limits: options.limits } : {}),
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 1000,
      missedHeartbeats: 3,
      restartGraceMs: 1000,
      defaultRetries: 1,
      retryBackoffMs: 10,
      retryBackoffMaxMs: 100,
      outputLimitBytes: 4096,
    },
  });
  await dispatcher.start();
  const auth = { adminToken: ADMIN, viewerToken: VIEWER };
  const app = await buildApp({
    dispatcher,
    registry: createMetrics(dispatcher, new Registry(), { processMetrics: false }),
    log,
    auth,
    version: '0.0.0-test',
    storeKind: 'memory',
    helloTimeoutMs: 5000,
    plugins: [uiPlugin({ dispatcher, auth, clock, log, version: 't', assets: { files: new Map(), version: 't' }, gateway: { flushMs: 20, resyncMinMs: 20 } })],
    ...options.app,
  });
  const httpUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    app,
    dispatcher,
    clock,
    httpUrl,
    wsUrl: httpUrl.replace('http', 'ws'),
    metrics: async () => (await app.inject({ url: '/metrics' })).body,
    close: () => app.close(),
  };
}

/** A ws client that queues every frame it gets (parsed JSON) and its close. */
export interface Peer {
  readonly ws: WebSocket;
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Frames until one matches `type`. */
  until(type: string): Promise<Record<string, unknown>>;
  readonly closed: Promise<number>;
  send(data: string | Buffer): void;
  close(): Promise<void>;
}

export async function peer(url: string): Promise<Peer> {
  const ws = new WebSocket(url);
  const queue: Record<string, unknown>[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as Record<string, unknown>;
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
  ws.on('error', () => {});
  await once(ws, 'open', { signal: AbortSignal.timeout(5000) });
  const next = (timeoutMs = 5000) =>
    queue.length
      ? Promise.resolve(queue.shift()!)
      : new Promise<Record<string, unknown>>((res, rej) => {
          const t = setTimeout(() => rej(new Error(`no frame within ${timeoutMs} ms`)), timeoutMs);
          waiters.push((m) => {
            clearTimeout(t);
            res(m);
          });
        });
  return {
    ws,
    next,
    async until(type) {
      for (;;) {
        const m = await next();
        if (m.type === type) return m;
      }
    },
    closed,
    send: (data) => ws.send(data),
    async close() {
      if (ws.readyState === ws.CLOSED) return;
      ws.close();
      await closed;
    },
  };
}

export function helloFrame(name: string, extra: { node?: Record<string, unknown>; token?: string } = {}): string {
  return JSON.stringify({
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    token: extra.token ?? deriveNodeToken(SECRET, name),
    node: { name, cpus: 2, memoryMb: 512, arch: 'x64', platform: 'linux', agentVersion: 't', bootId: 'b1', ...extra.node },
    running: [],
  });
}

/** An agent peer that has been welcomed. */
export async function agent(m: LiveMaster, name: string): Promise<Peer> {
  const p = await peer(`${m.wsUrl}/agent`);
  p.send(helloFrame(name));
  const w = await p.next();
  if (w.type !== 'welcome') throw new Error(`agent ${name} not welcomed: ${JSON.stringify(w)}`);
  return p;
}

/** Frames of every JSON type and a few near-misses: what a hostile peer sends first. */
export const HOSTILE_FRAMES: readonly (string | Buffer)[] = [
  'null',
  'true',
  '0',
  '-1e309',
  '"text"',
  '[]',
  '[null]',
  '{}',
  '{"type":null}',
  '{"type":7}',
  '{"type":"nope"}',
  '{"type":"__proto__"}',
  '{"type":"constructor"}',
  '{"type":"toString"}',
  '{"__proto__":{"type":"resync"}}',
  'not json',
  '{"type":"watch"',
  Buffer.from([0xff, 0xfe, 0x00, 0x01]),
];
