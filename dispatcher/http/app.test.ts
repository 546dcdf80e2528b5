import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { PROTOCOL_VERSION, parseDispatcherMessage, type DispatcherMessage } from '../../common/protocol.ts';
import { deriveNodeToken } from '../../common/tokens.ts';
import { Dispatcher } from '../dispatcher.ts';
import { createMetrics } from '../metrics.ts';
import { asyncStore } from '../store/async-adapter.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { buildApp } from './app.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
const SECRET = 'cluster-secret-0123456789abcdef';

let app: FastifyInstance;
let dispatcher: Dispatcher;

beforeEach(async () => {
  dispatcher = new Dispatcher({
    store: asyncStore(new MemoryStore()),
    clock: new ManualClock(),
    log: silentLogger(),
    clusterSecret: SECRET,
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
  app = await buildApp({
    dispatcher,
    registry: createMetrics(dispatcher, new Registry(), { processMetrics: false }),
    log: silentLogger(),
    auth: { adminToken: ADMIN, viewerToken: VIEWER },
    version: '0.0.0-test',
    storeKind: 'memory',
    helloTimeoutMs: 2000,
  });
});
afterEach(async () => {
  await app.close();
});

const as = (token?: string) => (token ? { authorization: `Bearer ${token}` } : {});

describe('REST API', () => {
  it('is open at /health and guarded elsewhere: 401 without a token, 403 for a viewer that mutates', async () => {
    expect((await app.inject({ url: '/health' })).json()).toMatchObject({ status: 'ok', version: '0.0.0-test' });
    const noToken = await app.inject({ url: '/api/nodes' });
    expect(noToken.statusCode).toBe(401);
    expect(noToken.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await app.inject({ url: '/api/nodes', headers: as('wrong-token-xxxxxxxx') })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/nodes', headers: as(VIEWER) })).statusCode).toBe(200);
    const viewerPost = await app.inject({ method: 'POST', url: '/api/jobs', headers: as(VIEWER), payload: { argv: ['true'] } });
    expect(viewerPost.statusCode).toBe(403);
    expect((await dispatcher.jobCounts()).queued).toBe(0);
  });

  it('submits one job or an array, answering with ids and states in order', async () => {
    const one = await app.inject({ method: 'POST', url: '/api/jobs', headers: as(ADMIN), payload: { argv: ['echo', 'hi'], group: 'g', priority: 3 } });
    expect(one.statusCode).toBe(201);
    expect(one.json()).toMatchObject({ id: 1, state: 'queued', kind: 'exec', group: 'g', priority: 3, retries: 1 });
    const many = await app.inject({
      method: 'POST',
      url: '/api/jobs',
      headers: as(ADMIN),
      payload: [
        { argv: ['a'], name: 'first' },
        { source: 'export default (x) => x + 1', args: [1], name: 'second' },
        { argv: ['c'], name: 'third' },
      ],
    });
    expect(many.statusCode).toBe(201);
    expect(many.json().map((j: { id: number; state: string; name: string; kind: string }) => [j.id, j.state, j.name, j.kind])).toEqual([
      [2, 'queued', 'first', 'exec'],
      [3, 'queued', 'second', 'function'],
      [4, 'queued', 'third', 'exec'],
    ]);
  });

  it.each([
    ['a string instead of argv', { argv: 'echo hi' }, 'argv'],
    ['no argv nor source', { group: 'g' }, 'argv'],
    ['an unknown field', { argv: ['x'], colour: 'red' }, 'colour'],
    ['a bad priority in the second item', [{ argv: ['x'] }, { argv: ['y'], priority: 'high' }], '[1].priority'],
    ['bad requirements', { argv: ['x'], requirements: { cpus: 0 } }, 'requirements.cpus'],
    ['exec fields on a function job', { source: 'export default () => 1', argv: ['x'] }, 'argv'],
    ['an empty array', [], '(body)'],
  ])('400 naming the field for %s, and nothing is written', async (_name, payload, field) => {
    const r = await app.inject({ method: 'POST', url: '/api/jobs', headers: as(ADMIN), payload: payload as object });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    expect(r.json().message).toContain(field === '(body)' ? 'empty' : field);
    expect((await dispatcher.jobCounts()).queued).toBe(0);
  });

  it('rejects a body that is not JSON with 400', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/jobs', headers: { ...as(ADMIN), 'content-type': 'application/json' }, payload: '{"argv": [' });
    expect(r.statusCode).toBe(400);
  });

  it('404s unknown jobs, nodes and routes; 400s a non-numeric id', async () => {
    expect((await app.inject({ url: '/api/jobs/99', headers: as(ADMIN) })).json()).toMatchObject({ statusCode: 404, code: 'JOB_NOT_FOUND' });
    expect((await app.inject({ url: '/api/nodes/nope', headers: as(ADMIN) })).json()).toMatchObject({ statusCode: 404, code: 'NODE_NOT_FOUND' });
    expect((await app.inject({ method: 'DELETE', url: '/api/jobs/99', headers: as(ADMIN) })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/nope', headers: as(ADMIN) })).statusCode).toBe(404);
    const bad = await app.inject({ url: '/api/jobs/abc', headers: as(ADMIN) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('id');
  });

  it('lists with filters and pages, counts by state, cancels', async () => {
    await app.inject({
      method: 'POST',
      url: '/api/jobs',
      headers: as(ADMIN),
      payload: Array.from({ length: 5 }, (_, i) => ({ argv: ['x'], group: i < 2 ? 'a' : 'b' })),
    });
    const page = (await app.inject({ url: '/api/jobs?limit=2&offset=1', headers: as(VIEWER) })).json();
    expect(page).toMatchObject({ total: 5, limit: 2, offset: 1 });
    expect(page.jobs.map((j: { id: number }) => j.id)).toEqual([4, 3]);
    expect((await app.inject({ url: '/api/jobs?group=a', headers: as(VIEWER) })).json().total).toBe(2);
    expect((await app.inject({ url: '/api/jobs?state=bogus', headers: as(VIEWER) })).statusCode).toBe(400);
    const cancelled = await app.inject({ method: 'DELETE', url: '/api/jobs/2', headers: as(ADMIN) });
    expect(cancelled.json()).toMatchObject({ id: 2, state: 'cancelled' });
    expect((await app.inject({ method: 'DELETE', url: '/api/jobs/2', headers: as(ADMIN) })).statusCode).toBe(409);
    expect((await app.inject({ url: '/api/jobs/status', headers: as(VIEWER) })).json()).toEqual({
      queued: 4,
      running: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 1,
    });
    expect((await app.inject({ url: '/api/jobs?state=queued,cancelled', headers: as(VIEWER) })).json().total).toBe(5);
  });

  it('serves OpenAPI, overview, cluster health and metrics', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/jobs', '/api/jobs/{id}', '/api/nodes/{name}', '/api/cluster/overview']));
    expect((await app.inject({ url: '/api/cluster/overview', headers: as(VIEWER) })).json()).toMatchObject({
      nodes: { total: 0 },
      jobs: { queued: 0 },
      strategy: 'round-robin',
    });
    expect((await app.inject({ url: '/api/cluster/health', headers: as(VIEWER) })).json()).toMatchObject({
      status: 'down',
      problems: ['no agent is connected'],
    });
    await app.inject({ method: 'POST', url: '/api/jobs', headers: as(ADMIN), payload: { argv: ['x'] } });
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain('picluster_jobs{state="queued"} 1');
    expect(metrics).toContain('picluster_jobs_submitted_total 1');
  });
});

describe('agent WebSocket gateway', () => {
  async function connect(): Promise<{ ws: WebSocket; next: () => Promise<DispatcherMessage>; closed: Promise<[number, Buffer]> }> {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const ws = new WebSocket(url.replace('http', 'ws') + '/agent');
    const queue: DispatcherMessage[] = [];
    const waiters: ((m: DispatcherMessage) => void)[] = [];
    ws.on('message', (d) => {
      const p = parseDispatcherMessage(d.toString());
      if (!p.ok) throw new Error(p.error);
      const w = waiters.shift();
      if (w) w(p.message);
      else queue.push(p.message);
    });
    const closed = once(ws, 'close', { signal: AbortSignal.timeout(5000) }) as Promise<[number, Buffer]>;
    closed.catch(() => {});
    await once(ws, 'open', { signal: AbortSignal.timeout(5000) });
    const next = () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise<DispatcherMessage>((res) => waiters.push(res)));
    return { ws, next, closed };
  }
  const hello = (name: string, token: string) =>
    JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      token,
      node: { name, cpus: 2, memoryMb: 512, arch: 'x64', platform: 'linux', agentVersion: 't', bootId: 'b1' },
      running: [],
    });

  it('answers malformed frames with an error frame, counts them, and keeps the connection', async () => {
    const { ws, next } = await connect();
    ws.send('not json');
    expect(await next()).toMatchObject({ type: 'error', code: 'BAD_JSON' });
    ws.send(JSON.stringify({ type: 'pull', slots: 1 }));
    expect(await next()).toMatchObject({ type: 'error', code: 'HELLO_FIRST' });
    ws.send(hello('n1', deriveNodeToken(SECRET, 'n1')));
    expect(await next()).toMatchObject({ type: 'welcome', node: 'n1', slots: 2 });
    ws.send(JSON.stringify({ type: 'pull', slots: 'many' }));
    expect(await next()).toMatchObject({ type: 'error', code: 'BAD_MESSAGE', message: expect.stringContaining('/slots') });
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/picluster_agent_protocol_errors_total\{code="BAD_JSON"\} 1/);
    expect(metrics).toMatch(/picluster_agent_protocol_errors_total\{code="BAD_MESSAGE"\} 1/);
    ws.close();
  });

  it('refuses a wrong token with a refused frame and close code 4001', async () => {
    const { ws, next, closed } = await connect();
    ws.send(hello('n1', deriveNodeToken(SECRET, 'n2')));
    expect(await next()).toMatchObject({ type: 'refused', code: 'BAD_TOKEN' });
    const [code] = await closed;
    expect(code).toBe(4001);
  });

  it('runs a job over a real socket: assign, result, ack after commit', async () => {
    const { ws, next } = await connect();
    ws.send(hello('n1', deriveNodeToken(SECRET, 'n1')));
    await next();
    const [job] = await dispatcher.submit([{ spec: { kind: 'exec', argv: ['echo', 'hi'] } }]);
    ws.send(JSON.stringify({ type: 'pull', slots: 1 }));
    const assign = await next();
    expect(assign).toMatchObject({ type: 'assign', jobId: job!.id });
    const attemptId = (assign as { attemptId: number }).attemptId;
    ws.send(JSON.stringify({ type: 'output', attemptId, stream: 'stdout', data: 'hi\n' }));
    ws.send(
      JSON.stringify({ type: 'result', result: { attemptId, jobId: job!.id, outcome: 'succeeded', exitCode: 0, stdout: 'hi\n', startedAt: 0, durationMs: 3 } }),
    );
    expect(await next()).toEqual({ type: 'result-ack', attemptId });
    const got = (await app.inject({ url: `/api/jobs/${job!.id}/wait?timeoutMs=1000`, headers: as(VIEWER) })).json();
    expect(got).toMatchObject({
      done: true,
      state: 'succeeded',
      node: 'n1',
      result: { outcome: 'succeeded', exitCode: 0 },
      attemptList: [{ id: attemptId, state: 'succeeded' }],
    });
    expect((await app.inject({ url: `/api/jobs/${job!.id}/output`, headers: as(VIEWER) })).json()).toMatchObject({ stdout: 'hi\n', running: false });
    ws.close();
  });
});
