/**
 * Item 3 of issue 10: unauthenticated work is bounded. Auth before bodies, per-route body limits,
 * small /agent frames until hello, rate limits on unauthenticated endpoints (HTTP 429, upgrades
 * refused before the handshake), numeric fields bounded (400 naming the field, never a 500),
 * boot events coalesced and capped, enrollment capped, UI snapshots without job payloads.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ADMIN, agent, helloFrame, peer, startLiveMaster, VIEWER, type LiveMaster } from '../../fuzz/live-master.ts';

let m: LiveMaster | undefined;
afterEach(async () => {
  await m?.close();
  m = undefined;
});
const as = (t: string) => ({ authorization: `Bearer ${t}` });

describe('bodies and numbers', () => {
  it('authenticates before reading a body: a huge unauthenticated submission is 401, not parsed', async () => {
    m = await startLiveMaster();
    const big = JSON.stringify({ argv: ['x'], stdin: 'x'.repeat(20 * 1024 * 1024) });
    const r = await m.app.inject({ method: 'POST', url: '/api/jobs', payload: big, headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(401);
    const viewer = await m.app.inject({
      method: 'POST',
      url: '/api/jobs',
      payload: '{not json',
      headers: { ...as(VIEWER), 'content-type': 'application/json' },
    });
    expect(viewer.statusCode).toBe(403);
  });

  it('refuses args nested deeper than the store can serialize: 400 naming the field, the master and other submits unharmed', async () => {
    m = await startLiveMaster();
    // 200,000 levels: JSON.parse takes it, JSON.stringify (the store's insert, the assign frame) would overflow its stack
    const deep = `{"source":"export default (a) => a","args":[${'['.repeat(200_000)}${']'.repeat(200_000)}]}`;
    const r = await m.app.inject({ method: 'POST', url: '/api/jobs', headers: { ...as(ADMIN), 'content-type': 'application/json' }, payload: deep });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'args' });
    const ok = await m.app.inject({ method: 'POST', url: '/api/jobs', headers: as(ADMIN), payload: { source: 'export default (a) => a', args: [[[[1]]]] } });
    expect(ok.statusCode).toBe(201);
  });

  it('keeps small bodies small except job submissions', async () => {
    m = await startLiveMaster();
    await agent(m, 'n1').then((a) => a.close());
    const patch = await m.app.inject({
      method: 'PATCH',
      url: '/api/nodes/n1',
      headers: as(ADMIN),
      payload: { labels: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`k${i}`, 'v'.repeat(200)])) },
    });
    expect(patch.statusCode).toBe(413);
    const job = await m.app.inject({ method: 'POST', url: '/api/jobs', headers: as(ADMIN), payload: { argv: ['cat'], stdin: 'x'.repeat(1024 * 1024) } });
    expect(job.statusCode).toBe(201);
  });

  it.each([
    ['/api/jobs?offset=1e30', 'offset'],
    ['/api/jobs?offset=-1', 'offset'],
    ['/api/jobs?limit=100000', 'limit'],
    ['/api/jobs/123456789012345678901234567890', 'id'],
    ['/api/jobs/0', 'id'],
    ['/api/nodes/n1/events?limit=1e9', 'limit'],
    ['/api/boot-events?limit=-5', 'limit'],
    ['/api/monitoring/export?since=1e300', 'since'],
    ['/api/jobs/1/wait?timeoutMs=1e12', 'timeoutMs'],
    // Found by npm run fuzz (live-rest): ajv coerces these to Infinity, which passed the schema and ended in a 500.
    ['/api/jobs?limit=Infinity', 'limit'],
    ['/api/jobs?offset=Infinity', 'offset'],
    ['/api/jobs?limit=-Infinity', 'limit'],
    ['/api/jobs?limit=1e400', 'limit'],
  ])('%s → 400 naming %s', async (url, field) => {
    m = await startLiveMaster();
    const r = await m.app.inject({ url, headers: as(VIEWER) });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
  });

  it.each([
    [{ argv: ['x'], requirements: { memoryMb: 1e15 } }, 'requirements.memoryMb'],
    [{ argv: ['x'], limits: { memoryMb: 1e15 } }, 'limits.memoryMb'],
    [{ argv: ['x'], priority: 1e300 }, 'priority'],
    [{ argv: ['x'], timeoutMs: -1 }, 'timeoutMs'],
  ])('submission %j → 400 naming %s', async (payload, field) => {
    m = await startLiveMaster();
    const r = await m.app.inject({ method: 'POST', url: '/api/jobs', headers: as(ADMIN), payload });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().field).toContain(field);
  });
});

it('a non-finite number in a JSON body (1e400) is a 400 naming the field', async () => {
  m = await startLiveMaster();
  await agent(m, 'n1').then((a) => a.close());
  const r = await m.app.inject({
    method: 'PATCH',
    url: '/api/nodes/n1',
    headers: { ...as(ADMIN), 'content-type': 'application/json' },
    payload: '{"slots": 1e400}',
  });
  expect(r.statusCode).toBe(400);
  expect(m.dispatcher.getNode('n1').slots).toBe(2);
});

describe('/agent before hello', () => {
  it('closes with 1009 on a frame over 16 KiB before hello; after hello big frames pass', async () => {
    m = await startLiveMaster();
    const a = await peer(`${m.wsUrl}/agent`);
    a.send(JSON.stringify({ type: 'hello', pad: 'x'.repeat(64 * 1024) }));
    expect(await a.closed).toBe(1009);
    // counted as the peer's input, not logged as the master's error (a flood any peer could cause)
    await expect.poll(() => m!.metrics()).toMatch(/picluster_input_dropped_total\{channel="agent",reason="WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"\} 1/);
    const ok = await agent(m, 'n1');
    ok.send(JSON.stringify({ type: 'event', kind: 'k', message: 'x'.repeat(16 * 1024) }));
    ok.send(JSON.stringify({ type: 'output', attemptId: 1, stream: 'stdout', data: 'y'.repeat(512 * 1024) }));
    ok.send(JSON.stringify({ type: 'heartbeat', health: {}, running: [] }));
    await expect.poll(async () => (await m!.dispatcher.nodeEvents('n1')).some((e) => e.kind === 'k')).toBe(true);
    expect(ok.ws.readyState).toBe(WebSocket.OPEN);
    await ok.close();
  });
});

describe('rate limits on unauthenticated endpoints', () => {
  it('answers 429 over the burst and refuses /agent upgrades before the handshake', async () => {
    m = await startLiveMaster({ app: { rateLimit: { perSecond: 0.001, burst: 5, maxClients: 16 } } });
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) codes.push((await fetch(`${m.httpUrl}/health`)).status);
    expect(codes).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    const ws = new WebSocket(`${m.wsUrl}/agent`);
    const status = await new Promise<number>((res) => {
      ws.once('unexpected-response', (_req, resp) => res(resp.statusCode ?? 0));
      ws.once('open', () => res(101));
      ws.once('error', () => res(-1));
    });
    expect(status).toBe(429);
    // Authenticated routes are not limited by it.
    expect((await fetch(`${m.httpUrl}/api/nodes`, { headers: as(VIEWER) })).status).toBe(200);
    expect(await m.metrics()).toMatch(/picluster_input_dropped_total\{channel="http",reason="RATE_LIMITED"\} 4/);
  });
});

describe('netboot-driven writes', () => {
  it('coalesces repeated boot events per client and caps the table', async () => {
    m = await startLiveMaster({ limits: { bootEventCoalesceMs: 10_000, maxBootEvents: 100 } });
    const d = m.dispatcher;
    for (let i = 0; i < 1000; i++) d.recordBootEvent({ kind: 'dhcp-discover', at: 1000 + i, mac: 'aa:bb:cc:dd:ee:01', outcome: 'answered' });
    expect(await d.bootEvents({ limit: 1000 })).toHaveLength(1);
    d.recordBootEvent({ kind: 'dhcp-discover', at: 20_000, mac: 'aa:bb:cc:dd:ee:01', outcome: 'answered' });
    expect(await d.bootEvents({ limit: 1000 })).toHaveLength(2);
    for (let i = 0; i < 2000; i++) {
      const mac = `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      d.recordBootEvent({ kind: 'dhcp-discover', at: 30_000 + i, mac, outcome: 'answered' });
    }
    await d.idle();
    expect((await d.bootEvents({ limit: 1000 })).length).toBeLessThanOrEqual(100 + 256);
    expect(await m.metrics()).toMatch(/picluster_input_dropped_total\{channel="netboot",reason="BOOT_EVENT_COALESCED"\} 999/);
  });

  it('enrollment records at most maxPendingNodes pending nodes', async () => {
    m = await startLiveMaster({ limits: { maxPendingNodes: 5 } });
    for (let i = 0; i < 50; i++) m.dispatcher.enrollPending({ mac: `02:00:00:00:00:${i.toString(16).padStart(2, '0')}` });
    expect(m.dispatcher.listNodes().filter((n) => n.state === 'pending-approval')).toHaveLength(5);
    // A known client is still found.
    expect(m.dispatcher.enrollPending({ mac: '02:00:00:00:00:00' })).toBe('pending-020000000000');
  });
});

describe('UI snapshots', () => {
  it('leave out job payloads (stdin, env, sources) but keep the title', async () => {
    m = await startLiveMaster();
    await m.dispatcher.submit([{ spec: { kind: 'exec', argv: ['echo', 'hi'], stdin: 'STDIN-PAYLOAD', env: { K: 'ENV-PAYLOAD' } } }]);
    await m.dispatcher.submit([{ spec: { kind: 'function', source: 'export default () => "SOURCE-PAYLOAD"' } }]);
    const ui = await peer(`${m.wsUrl}/ui?token=${VIEWER}`);
    const snap = await ui.next();
    const text = JSON.stringify(snap);
    expect(text).not.toMatch(/PAYLOAD/);
    expect(snap.jobs).toEqual(expect.arrayContaining([expect.objectContaining({ spec: { kind: 'exec', argv: ['echo', 'hi'] } })]));
    await ui.close();
  });
});

it('hello helper frame stays under the pre-hello cap', async () => {
  expect(Buffer.byteLength(helloFrame('n1', { node: { runtimes: { python3: '3.11.2', node: '20.19.0' } } }))).toBeLessThan(16 * 1024);
});
