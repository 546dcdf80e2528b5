import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { Dispatcher } from '../dispatcher.ts';
import { NodeLifecycle } from '../lifecycle.ts';
import { createMetrics } from '../metrics.ts';
import { asyncStore } from '../store/async-adapter.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { buildApp } from './app.ts';
import { registerLifecycleRoutes } from './routes-lifecycle.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
let app: FastifyInstance;
let dispatcher: Dispatcher;

beforeEach(async () => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const shared = asyncStore(store); // one adapter for the dispatcher and the lifecycle
  dispatcher = new Dispatcher({
    store: shared,
    clock,
    log: silentLogger(),
    clusterSecret: 'secret-0123456789abcdef01',
    defer: (fn) => fn(),
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 1000,
      missedHeartbeats: 3,
      restartGraceMs: 0,
      defaultRetries: 1,
      retryBackoffMs: 0,
      retryBackoffMaxMs: 0,
      outputLimitBytes: 1024,
    },
  });
  await dispatcher.start();
  const lifecycle = new NodeLifecycle({
    dispatcher,
    store: shared,
    clock,
    log: silentLogger(),
    policy: {
      enabled: true,
      graceMs: 0,
      rebootTimeoutMs: 1000,
      bootTimeoutMs: 1000,
      expectBootEvent: false,
      maxCycles: 1,
      windowMs: 1000,
      breakerFraction: 0.5,
      breakerMinNodes: 2,
      maxConcurrentPowerOps: 1,
      staggerMs: 0,
    },
  });
  const auth = { adminToken: ADMIN, viewerToken: VIEWER };
  app = await buildApp({
    dispatcher,
    registry: createMetrics(dispatcher, new Registry(), { processMetrics: false }),
    log: silentLogger(),
    auth,
    version: 't',
    storeKind: 'memory',
    plugins: [(a) => registerLifecycleRoutes(a, dispatcher, lifecycle, auth)],
  });
});
afterEach(() => app.close());

const req = (method: string, url: string, payload?: object, token = ADMIN) =>
  app.inject({ method: method as 'POST', url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

describe('lifecycle API', () => {
  it('adds a node, refuses duplicates and bad fields, and removes it', async () => {
    const r = await req('POST', '/api/nodes', {
      name: 'x1',
      mac: '52-54-00-00-00-01',
      slots: 2,
      labels: { rack: 'b' },
      power: { driver: 'command', on: ['true'] },
    });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ name: 'x1', mac: '52:54:00:00:00:01', slots: 2, state: 'offline' });
    expect((await req('POST', '/api/nodes', { name: 'x1' })).statusCode).toBe(409);
    expect((await req('POST', '/api/nodes', { name: 'x2', mac: '52:54:00:00:00:01' })).statusCode).toBe(409);
    const bad = await req('POST', '/api/nodes', { name: 'x3', mac: 'nope', power: { driver: 'warp-drive' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/mac/);
    expect(bad.json().message).toMatch(/power/);
    expect((await req('POST', '/api/nodes', { name: 'x4' }, VIEWER)).statusCode).toBe(403);
    expect((await req('DELETE', '/api/nodes/x1')).json()).toEqual({ removed: 'x1' });
    expect((await req('GET', '/api/nodes/x1')).statusCode).toBe(404);
  });

  it('approves a node netboot saw, under the name the operator gives', async () => {
    dispatcher.enrollPending({ mac: 'dc:a6:32:01:02:03' });
    await dispatcher.idle();
    const r = await req('POST', '/api/nodes', { name: 'pi4-a', approve: 'pending-dca632010203', model: 'pi4', labels: { role: 'worker' } });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ name: 'pi4-a', mac: 'dc:a6:32:01:02:03', state: 'offline' });
    expect((await req('GET', '/api/nodes/pending-dca632010203')).statusCode).toBe(404);
  });

  it('drains, sets maintenance, identifies, and answers clearly for what cannot be done', async () => {
    await req('POST', '/api/nodes', { name: 'x1' });
    expect((await req('POST', '/api/nodes/x1/drain', { immediate: true })).json()).toMatchObject({ state: 'drained' });
    expect((await req('POST', '/api/nodes/x1/undrain')).json()).toMatchObject({ state: 'offline' });
    expect((await req('POST', '/api/nodes/x1/identify', { seconds: 0 })).statusCode).toBe(400);
    expect((await req('POST', '/api/nodes/x1/maintenance', {})).json()).toMatchObject({ state: 'maintenance' });
    expect((await req('POST', '/api/nodes/x1/maintenance', { on: false })).json()).toMatchObject({ state: 'offline' });
    expect((await req('POST', '/api/nodes/x1/identify', { seconds: 5 })).json()).toEqual({ sent: false, seconds: 5 });
    const reboot = await req('POST', '/api/nodes/x1/reboot', {});
    expect(reboot.statusCode).toBe(409);
    expect(reboot.json().message).toContain('no connected agent');
    const cycle = await req('POST', '/api/nodes/x1/power-cycle');
    expect(cycle.statusCode).toBe(409);
    expect(cycle.json().message).toContain('no power driver');
    expect((await req('POST', '/api/nodes/nope/power-on')).statusCode).toBe(404);
    expect((await req('POST', '/api/nodes/x1/drain', {}, VIEWER)).statusCode).toBe(403);
  });

  it('runs a power action through the driver and lists it in the journal; alerts are listed', async () => {
    await req('POST', '/api/nodes', { name: 'x1', power: { driver: 'command', on: ['true'], off: ['true'] } });
    const on = await req('POST', '/api/nodes/x1/power-on');
    expect(on.statusCode).toBe(200);
    expect(on.json()).toMatchObject({ node: 'x1', driver: 'command', action: 'on', state: 'succeeded', verified: false });
    expect((await req('GET', '/api/power/operations?node=x1', undefined, VIEWER)).json()).toHaveLength(1);
    expect((await req('GET', '/api/alerts', undefined, VIEWER)).json()).toEqual({ breakerOpen: false, alerts: [] });
    expect((await req('GET', '/api/nodes/x1/power', undefined, VIEWER)).json()).toMatchObject({ power: { driver: 'command' }, canPowerCycle: true });
  });
});
