/**
 * In-test HTTP devices following the documented APIs, on 127.0.0.1:0:
 * - Tasmota: `GET /cm?[user=..&password=..&]cmnd=<Command>`; `Power<n> [On|Off|Toggle|1|0]` →
 *   `{"POWER<n>":"ON"}` (a single-relay device answers `POWER`); missing/wrong credentials → HTTP 401
 *   `{"WARNING":"Need user=<username>&password=<password>"}`.
 * - Shelly Gen2: `POST /rpc` JSON-RPC `Switch.Set {id,on,toggle_after}` → `{was_on}`, `Switch.GetStatus {id}`
 *   → `{id, source, output, ...}`; an unknown id → error -105; with a password, HTTP Digest (SHA-256,
 *   realm = device id, user `admin`). `toggle_after` timers run on the injected ManualClock.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { ManualClock } from '../../../common/clock.ts';
import { parseDigestAuthorization } from '../http-client.ts';

export interface TestDevice {
  readonly url: string;
  readonly requests: { method: string; url: string; body: string; authorization?: string }[];
  close(): Promise<void>;
}

async function listen(
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void,
  requests: TestDevice['requests'],
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      requests.push({ method: req.method ?? '', url: req.url ?? '', body, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      handler(req, body, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const closer = (server: Server) => () =>
  new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });

export interface Tasmota extends TestDevice {
  readonly relays: boolean[];
}

export async function startTasmota(options: { relays?: number; user?: string; password?: string } = {}): Promise<Tasmota> {
  const relays = Array.from({ length: options.relays ?? 1 }, () => true);
  const requests: TestDevice['requests'] = [];
  const { server, url } = await listen((req, _body, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/cm') return json(res, 404, { error: 'not found' });
    if (options.password && (u.searchParams.get('user') !== options.user || u.searchParams.get('password') !== options.password)) {
      return json(res, 401, { WARNING: 'Need user=<username>&password=<password>' });
    }
    const m = /^power(\d*)(?:\s+(on|off|toggle|1|0|2))?$/i.exec((u.searchParams.get('cmnd') ?? '').trim());
    if (!m) return json(res, 200, { Command: 'Unknown' });
    const n = m[1] ? Number(m[1]) : 1;
    if (n < 1 || n > relays.length) return json(res, 200, { Command: 'Unknown' });
    const verb = m[2]?.toLowerCase();
    if (verb === 'on' || verb === '1') relays[n - 1] = true;
    else if (verb === 'off' || verb === '0') relays[n - 1] = false;
    else if (verb === 'toggle' || verb === '2') relays[n - 1] = !relays[n - 1];
    const key = relays.length === 1 ? 'POWER' : `POWER${n}`;
    json(res, 200, { [key]: relays[n - 1] ? 'ON' : 'OFF' });
  }, requests);
  return { url, requests, relays, close: closer(server) };
}

export interface Shelly extends TestDevice {
  /** Output per switch id. */
  readonly outputs: boolean[];
  /** Pending `toggle_after` flips (clock time when they fire). */
  readonly timers: Map<number, number>;
}

export async function startShelly(
  clock: ManualClock,
  options: { switches?: number; password?: string; /** fire toggle_after this much late */ lateMs?: number } = {},
): Promise<Shelly> {
  const deviceId = 'shellyplus1pm-a8032ab12345';
  const outputs = Array.from({ length: options.switches ?? 1 }, () => true);
  const timers = new Map<number, number>();
  const nonces = new Set<string>();
  const requests: TestDevice['requests'] = [];
  const runTimers = () => {
    for (const [id, at] of timers) {
      if (clock.now() < at) continue;
      outputs[id] = !outputs[id];
      timers.delete(id);
    }
  };
  const challenge = (res: ServerResponse) => {
    const nonce = randomBytes(8).toString('hex');
    nonces.add(nonce);
    json(
      res,
      401,
      { code: 401, message: 'Unauthorized' },
      { 'www-authenticate': `Digest qop="auth", realm="${deviceId}", nonce="${nonce}", algorithm=SHA-256` },
    );
  };
  const authorized = (req: IncomingMessage): boolean => {
    const header = req.headers.authorization;
    if (!header?.startsWith('Digest ')) return false;
    const a = parseDigestAuthorization(header);
    if (a['username'] !== 'admin' || a['realm'] !== deviceId || !nonces.has(a['nonce'] ?? '')) return false;
    const h = (s: string) => createHash('sha256').update(s).digest('hex');
    const ha1 = h(`admin:${deviceId}:${options.password}`);
    const ha2 = h(`${req.method}:${a['uri']}`);
    return a['response'] === h(`${ha1}:${a['nonce']}:${a['nc']}:${a['cnonce']}:${a['qop']}:${ha2}`);
  };
  const { server, url } = await listen((req, body, res) => {
    runTimers();
    if (req.method !== 'POST' || req.url !== '/rpc') return json(res, 404, { code: 404, message: 'No handler for ' + req.url });
    if (options.password && !authorized(req)) return challenge(res);
    let frame: { id?: number; method?: string; params?: Record<string, unknown> };
    try {
      frame = JSON.parse(body) as typeof frame;
    } catch {
      return json(res, 400, { code: -32700, message: 'Parse error' });
    }
    const reply = (result: unknown) => json(res, 200, { id: frame.id, src: deviceId, result });
    const error = (code: number, message: string) => json(res, 200, { id: frame.id, src: deviceId, error: { code, message } });
    const p = frame.params ?? {};
    const id = typeof p['id'] === 'number' ? p['id'] : -1;
    if (frame.method !== 'Switch.Set' && frame.method !== 'Switch.GetStatus') return error(404, `No handler for ${frame.method}`);
    if (id < 0 || id >= outputs.length) return error(-105, `Argument 'id', value ${id} not found!`);
    if (frame.method === 'Switch.GetStatus') {
      return reply({ id, source: 'http', output: outputs[id], apower: outputs[id] ? 4.2 : 0, voltage: 230.1, temperature: { tC: 41.2, tF: 106.2 } });
    }
    if (typeof p['on'] !== 'boolean') return error(-103, "Missing required argument 'on'!");
    const wasOn = outputs[id]!;
    outputs[id] = p['on'];
    timers.delete(id);
    if (typeof p['toggle_after'] === 'number') timers.set(id, clock.now() + p['toggle_after'] * 1000 + (options.lateMs ?? 0));
    reply({ was_on: wasOn });
  }, requests);
  return { url, requests, outputs, timers, close: closer(server) };
}

/** A MAAS-style webhook endpoint: `POST /machines/<node>/{on,off}` and `GET /machines/<node>` → `{"status":"running"|"stopped"}`. */
export async function startWebhook(options: { token: string }): Promise<TestDevice & { readonly machines: Map<string, boolean> }> {
  const machines = new Map<string, boolean>();
  const requests: TestDevice['requests'] = [];
  const { server, url } = await listen((req, _body, res) => {
    if (req.headers.authorization !== `Bearer ${options.token}`) return json(res, 403, { error: 'forbidden' });
    const m = /^\/machines\/([^/]+)(?:\/(on|off))?$/.exec(req.url ?? '');
    if (!m) return json(res, 404, { error: 'no such machine' });
    const node = decodeURIComponent(m[1]!);
    if (m[2] && req.method === 'POST') {
      machines.set(node, m[2] === 'on');
      return json(res, 202, { accepted: true });
    }
    if (!m[2] && req.method === 'GET') return json(res, 200, { name: node, status: machines.get(node) ? 'running' : 'stopped' });
    json(res, 405, { error: 'method not allowed' });
  }, requests);
  return { url, requests, machines, close: closer(server) };
}
