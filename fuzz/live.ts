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
import { verifyNodeToken } from '../common/tokens.ts';
import { BlobStore } from '../dispatcher/files/blob-store.ts';
import { SqliteStore } from '../dispatcher/store/sqlite-store.ts';
import { ADMIN, helloFrame, SECRET, startLiveMaster, VIEWER, type LiveMaster } from './live-master.ts';
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
    app: {
      rateLimit: { perSecond: 1e5, burst: 1e6, maxClients: 4096 },
      // The upload routes too: their body is a raw stream to disk, a surface of its own.
      files: {
        blobs: new BlobStore(join(dir, 'files')),
        maxUploadBytes: 1024 * 1024,
        artifacts: new BlobStore(join(dir, 'artifacts')),
        maxArtifactBytes: 1024 * 1024,
        nodeTokenValid: (node, token) => verifyNodeToken(SECRET, node, token),
      },
    },
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

/** Routes the OpenAPI document leaves out (hidden from /docs) that are still open to the LAN. */
const HIDDEN_ROUTES = [
  ['GET', '/boot/{s}'],
  ['GET', '/health'],
] as const;

/**
 * Every documented route of the live master (from its OpenAPI document, so a new route is fuzzed
 * without anyone adding it here), path parameters as `{name}`, plus the hidden ones.
 */
export function routesOf(m: LiveMaster): (readonly [string, string])[] {
  const doc = (m.app as unknown as { swagger(): { paths: Record<string, Record<string, unknown>> } }).swagger();
  const routes: (readonly [string, string])[] = [...HIDDEN_ROUTES];
  for (const [path, ops] of Object.entries(doc.paths))
    for (const method of Object.keys(ops)) if (['get', 'post', 'put', 'patch', 'delete'].includes(method)) routes.push([method.toUpperCase(), path]);
  return routes;
}

interface HostileRequest {
  method: string;
  url: string;
  body?: string | Buffer;
  token: string;
  headers: Record<string, string>;
}

const SHA = 'ab'.repeat(32);

/**
 * A hostile request: a route, odd path parameters, random query keys/values, and a body that is
 * JSON, near-miss frame text or raw bytes, sent as JSON, octet-stream (the upload routes stream
 * it to disk), text or with no type, with or without a (mostly wrong) x-picluster-sha256.
 */
function requestArb(routes: readonly (readonly [string, string])[]): fc.Arbitrary<HostileRequest> {
  const num = fc.oneof(fc.integer(), fc.double().map(String), fc.constantFrom('1e30', '-1', '0', 'NaN', '9'.repeat(40), '0x10', ''));
  const param = fc.oneof(num, fc.string({ maxLength: 80 }), fc.constantFrom(SHA, 'local-1', 'fz-agent', '..%2f..%2fetc%2fpasswd'));
  return fc
    .record({
      route: fc.constantFrom(...routes),
      params: fc.array(param, { minLength: 4, maxLength: 4 }),
      query: fc.dictionary(
        fc.constantFrom('limit', 'offset', 'state', 'since', 'timeoutMs', 'format', 'scope', 'node', 'mac', 'open', 'x'),
        fc.oneof(num, fc.string({ maxLength: 30 })),
        { maxKeys: 4 },
      ),
      body: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        frameText(),
        fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
      ),
      type: fc.constantFrom('application/json', 'application/json', 'application/octet-stream', 'text/plain', 'application/json; charset=utf-16', ''),
      sha: fc.option(fc.constantFrom(SHA, 'AB'.repeat(32), 'x', ''), { nil: undefined }),
      node: fc.option(fc.constantFrom('fz-agent', 'local-1', ''), { nil: undefined }),
      token: fc.constantFrom(ADMIN, ADMIN, VIEWER, '', 'wrong-token-0123456789'),
    })
    .map(({ route, params, query, body, type, sha, node, token }) => {
      const [method, path] = route;
      let i = 0;
      const p = path.replace(/\{[^}]+\}/g, () => encodeURIComponent(String(params[i++ % params.length])));
      const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
      const headers: Record<string, string> = {
        ...(type && method !== 'GET' ? { 'content-type': type } : {}),
        ...(sha !== undefined ? { 'x-picluster-sha256': sha } : {}),
        ...(node !== undefined ? { 'x-picluster-node': node } : {}),
      };
      return { method, url: `${p}${q ? `?${q}` : ''}`, token, headers, ...(method === 'GET' ? {} : { body }) };
    });
}

/** A request that gets no answer in this long counts as a crash: the master hangs (e.g. spins on an input). */
const REQUEST_TIMEOUT_MS = 15_000;

export async function fuzzRest(
  m: LiveMaster,
  count: number,
  seed: number,
  note: (what: string) => void = () => {},
  concurrency = 32,
): Promise<LiveRun & { byStatus: Record<string, number> }> {
  const arb = requestArb(routesOf(m));
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const byStatus: Record<string, number> = {};
  let next = 0;
  let pool: HostileRequest[] = [];
  let resent = 0;
  let poolSeed = seed;
  const worker = async () => {
    while (next < count) {
      next++;
      if (pool.length === 0) pool = fc.sample(arb, { numRuns: 1000, seed: poolSeed++ });
      const r = pool.pop()!;
      note(`${r.method} ${r.url} ${JSON.stringify(r.headers)} body ${r.body === undefined ? 'none' : Buffer.byteLength(r.body)} B`);
      // A server may close a kept-alive connection after an early answer (401 before the body):
      // a request that raced into that close is resent once on a fresh connection.
      const status = await send(m, r, agent).catch((e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? (resent++, send(m, r, false)) : Promise.reject(e)));
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      if (next % 100_000 === 0) process.stderr.write(`live-rest: ${next} requests ${JSON.stringify(byStatus)}\n`);
      if (status >= 500 && status !== 507) throw new Error(`${r.method} ${r.url} ${JSON.stringify(r.headers)} → ${status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { inputs: count, reconnects: resent, byStatus };
}

function send(m: LiveMaster, r: HostileRequest, agent: Agent | false): Promise<number> {
  return new Promise<number>((res, rej) => {
    const req = request(
      `${m.httpUrl}${r.url}`,
      {
        method: r.method,
        agent,
        timeout: REQUEST_TIMEOUT_MS,
        headers: { ...(r.token ? { authorization: `Bearer ${r.token}` } : {}), ...r.headers },
      },
      (resp) => {
        resp.resume();
        resp.on('end', () => res(resp.statusCode ?? 0));
        resp.on('error', rej);
      },
    );
    const what = `${r.method} ${r.url} ${JSON.stringify(r.headers)} body ${r.body === undefined ? 'none' : Buffer.byteLength(r.body)} B`;
    req.on('error', (e: NodeJS.ErrnoException) => rej(Object.assign(new Error(`${what}: ${e.message}`), { code: e.code })));
    req.on('timeout', () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms (the master hangs)`)));
    req.end(r.body);
  });
}
