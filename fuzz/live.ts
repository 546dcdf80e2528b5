/**
 * The live surfaces of `npm run fuzz`: generated frames and requests against a master over real
 * sockets (127.0.0.1:0) — /agent before and after hello, /ui as a viewer, /shell as an admin, and
 * REST routes with hostile queries and bodies. Frames are pipelined and synchronised with ws
 * ping/pong every batch, so the master handles them as fast as it can; a closed channel is
 * reopened (closing is a legitimate answer to some inputs). A crash is an error that escapes to
 * the process guard or a master that stops answering /health.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import { SqliteStore } from '../dispatcher/store/sqlite-store.ts';
import { ADMIN, helloFrame, startLiveMaster, VIEWER, type LiveMaster } from './live-master.ts';
import { frameText } from './surfaces.ts';

export interface LiveRun {
  readonly inputs: number;
  readonly reconnects: number;
}

const BATCH = 500;

class Channel {
  ws!: WebSocket;
  reconnects = 0;
  constructor(
    private readonly url: string,
    /** `first`: the channel's first frame (listened for before the socket opens: it may come with the upgrade). */
    private readonly onOpen: (ws: WebSocket, first: Promise<unknown>) => Promise<void> = async () => {},
  ) {}
  async open(): Promise<void> {
    for (;;) {
      const ws = new WebSocket(this.url);
      ws.on('error', () => {});
      const first = once(ws, 'message', { signal: AbortSignal.timeout(5000) });
      first.catch(() => {});
      try {
        await once(ws, 'open', { signal: AbortSignal.timeout(5000) });
        this.ws = ws;
        await this.onOpen(ws, first);
        return;
      } catch {
        ws.terminate();
      }
    }
  }
  get alive(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }
  /** Sends, then waits until the master has processed everything sent (a pong follows them). */
  async sendBatch(frames: readonly string[]): Promise<void> {
    if (!this.alive) {
      this.reconnects++;
      await this.open();
    }
    for (const f of frames) {
      if (!this.alive) break;
      this.ws.send(f);
    }
    if (!this.alive) return;
    const ws = this.ws;
    await new Promise<void>((res) => {
      const done = () => {
        ws.off('pong', done);
        ws.off('close', done);
        res();
      };
      ws.on('pong', done);
      ws.on('close', done);
      ws.ping();
    });
  }
}

/** Generates `count` frame texts in batches, deterministic from `seed`. */
function* batches(count: number, seed: number): Generator<string[]> {
  const arb = frameText();
  let left = count;
  for (let i = 0; left > 0; i++) {
    const n = Math.min(BATCH, left);
    left -= n;
    yield fc.sample(arb, { numRuns: n, seed: seed + i });
  }
}

export async function withLiveMaster<T>(fn: (m: LiveMaster) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-fuzz-'));
  const m = await startLiveMaster({
    store: new SqliteStore(join(dir, 'fuzz.db')),
    app: { rateLimit: { perSecond: 1e5, burst: 1e6, maxClients: 4096 } },
    limits: { maxNodeEvents: 5000, maxBootEvents: 5000 },
  });
  try {
    return await fn(m);
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const agentChannel = (m: LiveMaster, name?: string) =>
  new Channel(`${m.wsUrl}/agent`, async (ws, first) => {
    if (!name) return;
    ws.send(helloFrame(name));
    await first;
  });

export async function fuzzAgent(m: LiveMaster, count: number, seed: number): Promise<LiveRun> {
  const pre = agentChannel(m);
  const post = agentChannel(m, 'fz-agent');
  await pre.open();
  await post.open();
  let inputs = 0;
  let i = 0;
  for (const b of batches(count, seed)) {
    await (i++ % 2 ? post : pre).sendBatch(b);
    inputs += b.length;
  }
  pre.ws.close();
  post.ws.close();
  return { inputs, reconnects: pre.reconnects + post.reconnects };
}

export async function fuzzUi(m: LiveMaster, count: number, seed: number): Promise<LiveRun> {
  const ui = new Channel(`${m.wsUrl}/ui?token=${VIEWER}`);
  await ui.open();
  let inputs = 0;
  for (const b of batches(count, seed)) {
    await ui.sendBatch(b);
    inputs += b.length;
  }
  ui.ws.close();
  return { inputs, reconnects: ui.reconnects };
}

export async function fuzzShell(m: LiveMaster, count: number, seed: number): Promise<LiveRun> {
  const node = agentChannel(m, 'fz-shell');
  await node.open();
  const shell = new Channel(`${m.wsUrl}/shell?node=fz-shell&token=${ADMIN}`, async (_ws, first) => {
    await first;
  });
  await shell.open();
  let inputs = 0;
  for (const b of batches(count, seed)) {
    if (!node.alive) await node.open();
    await shell.sendBatch(b);
    inputs += b.length;
  }
  shell.ws.close();
  node.ws.close();
  return { inputs, reconnects: shell.reconnects };
}

const ROUTES = [
  ['GET', '/api/jobs'],
  ['GET', '/api/jobs/{n}'],
  ['GET', '/api/jobs/{n}/output'],
  ['GET', '/api/jobs/{n}/wait'],
  ['POST', '/api/jobs/{n}/cancel'],
  ['POST', '/api/jobs'],
  ['GET', '/api/nodes'],
  ['GET', '/api/nodes/{s}'],
  ['PATCH', '/api/nodes/{s}'],
  ['GET', '/api/nodes/{s}/events'],
  ['GET', '/api/boot-events'],
  ['GET', '/api/monitoring/export'],
  ['GET', '/api/cluster/overview'],
  ['GET', '/boot/{s}'],
  ['GET', '/health'],
] as const;

/** A hostile request: a route, odd path parameters, random query keys/values, a random JSON body. */
function requestArb(): fc.Arbitrary<{ method: string; url: string; body?: string; token: string }> {
  const num = fc.oneof(fc.integer(), fc.double().map(String), fc.constantFrom('1e30', '-1', '0', 'NaN', '9'.repeat(40), '0x10', ''));
  return fc
    .record({
      route: fc.constantFrom(...ROUTES),
      n: num,
      s: fc.string({ maxLength: 80 }),
      query: fc.dictionary(
        fc.constantFrom('limit', 'offset', 'state', 'since', 'timeoutMs', 'format', 'scope', 'node', 'mac', 'x'),
        fc.oneof(num, fc.string({ maxLength: 30 })),
        {
          maxKeys: 4,
        },
      ),
      body: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        frameText(),
      ),
      token: fc.constantFrom(ADMIN, VIEWER, '', 'wrong-token-0123456789'),
    })
    .map(({ route, n, s, query, body, token }) => {
      const [method, path] = route as readonly [string, string];
      const p = path.replace('{n}', encodeURIComponent(String(n))).replace('{s}', encodeURIComponent(s));
      const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
      return { method, url: `${p}${q ? `?${q}` : ''}`, token, ...(method === 'GET' ? {} : { body }) };
    });
}

export async function fuzzRest(m: LiveMaster, count: number, seed: number, concurrency = 32): Promise<LiveRun & { byStatus: Record<string, number> }> {
  const arb = requestArb();
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const byStatus: Record<string, number> = {};
  let next = 0;
  let pool: ReturnType<typeof requestArb> extends fc.Arbitrary<infer R> ? R[] : never = [];
  let poolSeed = seed;
  const worker = async () => {
    while (next < count) {
      next++;
      if (pool.length === 0) pool = fc.sample(arb, { numRuns: 1000, seed: poolSeed++ });
      const r = pool.pop()!;
      const status = await new Promise<number>((res, rej) => {
        const req = request(
          `${m.httpUrl}${r.url}`,
          {
            method: r.method,
            agent,
            headers: { ...(r.token ? { authorization: `Bearer ${r.token}` } : {}), ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          },
          (resp) => {
            resp.resume();
            resp.on('end', () => res(resp.statusCode ?? 0));
            resp.on('error', rej);
          },
        );
        req.on('error', rej);
        req.end(r.body);
      });
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      if (next % 100_000 === 0) process.stderr.write(`live-rest: ${next} requests ${JSON.stringify(byStatus)}\n`);
      if (status >= 500 && status !== 507) throw new Error(`${r.method} ${r.url} → ${status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { inputs: count, reconnects: 0, byStatus };
}
