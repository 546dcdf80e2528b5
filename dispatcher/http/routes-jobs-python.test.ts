/**
 * REST submission of python jobs, retryOn and limits (issue 14): what is accepted, what each
 * field becomes in the stored spec, and 400s that name the field.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { Dispatcher } from '../dispatcher.ts';
import { createMetrics } from '../metrics.ts';
import { asyncStore } from '../store/async-adapter.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { buildApp } from './app.ts';

const ADMIN = 'admin-token-0123456789abcdef';
let app: FastifyInstance;
let dispatcher: Dispatcher;

beforeEach(async () => {
  dispatcher = new Dispatcher({
    store: asyncStore(new MemoryStore()),
    clock: new ManualClock(),
    log: silentLogger(),
    clusterSecret: 'cluster-secret-0123456789abcdef',
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
    auth: { adminToken: ADMIN },
    version: '0.0.0-test',
    storeKind: 'memory',
    helloTimeoutMs: 2000,
  });
});
afterEach(async () => {
  await app.close();
});

const post = (payload: unknown) => app.inject({ method: 'POST', url: '/api/jobs', headers: { authorization: `Bearer ${ADMIN}` }, payload: payload as object });

describe('python jobs over REST', () => {
  it('accepts kind python with function, args, kwargs and depends, stored as the spec', async () => {
    const r = await post({
      kind: 'python',
      source: 'def f(a, b=1):\n    return a + b\n',
      function: 'f',
      args: [1],
      kwargs: { b: 2 },
      depends: [{ name: 'helpers.py', source: 'X = 1\n' }],
      retryOn: ['failure'],
    });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ kind: 'python', state: 'queued' });
    const job = await dispatcher.getJob(r.json().id);
    expect(job.spec).toEqual({
      kind: 'python',
      source: 'def f(a, b=1):\n    return a + b\n',
      function: 'f',
      args: [1],
      kwargs: { b: 2 },
      depends: [{ name: 'helpers.py', source: 'X = 1\n' }],
    });
    expect(job.retryOn).toEqual(['failure']);
  });

  it('without retryOn the job keeps the default (absent)', async () => {
    const r = await post({ argv: ['true'] });
    expect(await dispatcher.getJob(r.json().id)).not.toHaveProperty('retryOn');
  });

  it('requirements.memoryMb becomes the enforced memory limit unless limits sets one', async () => {
    const a = await post({ argv: ['true'], requirements: { memoryMb: 256 } });
    expect((await dispatcher.getJob(a.json().id)).spec).toEqual({ kind: 'exec', argv: ['true'], limits: { memoryMb: 256 } });
    const b = await post({ argv: ['true'], requirements: { memoryMb: 256 }, limits: { memoryMb: 64, cpus: 0.5, pids: 32 } });
    expect((await dispatcher.getJob(b.json().id)).spec).toMatchObject({ limits: { memoryMb: 64, cpus: 0.5, pids: 32 } });
    const c = await post({ argv: ['true'] });
    expect((await dispatcher.getJob(c.json().id)).spec).not.toHaveProperty('limits');
  });

  it.each([
    ['python without function', { kind: 'python', source: 'def f(): pass' }, 'function'],
    ['python without source', { kind: 'python', function: 'f' }, 'source'],
    ['a function name that is not an identifier', { kind: 'python', source: 'x', function: 'os.system' }, 'function'],
    ['a depends name that is a path', { kind: 'python', source: 'x', function: 'f', depends: [{ name: '../evil.py', source: '' }] }, 'depends[0].name'],
    ['python fields on an exec job', { argv: ['x'], function: 'f' }, 'function'],
    ['python fields on a function job', { source: 'export default () => 1', depends: [] }, 'depends'],
    ['argv on a python job', { kind: 'python', source: 'x', function: 'f', argv: ['x'] }, 'argv'],
    ['an unknown retry cause', { argv: ['x'], retryOn: ['always'] }, 'retryOn[0]'],
    ['a repeated retry cause', { argv: ['x'], retryOn: ['failure', 'failure'] }, 'retryOn'],
    ['a zero cpu limit', { argv: ['x'], limits: { cpus: 0 } }, 'limits.cpus'],
    ['an unknown limit', { argv: ['x'], limits: { disk: 1 } }, 'limits.disk'],
  ])('400 naming the field for %s', async (_name, payload, field) => {
    const r = await post(payload);
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    expect((await dispatcher.jobCounts()).queued).toBe(0);
  });

  it('refuses two depends with the same name', async () => {
    const r = await post({
      kind: 'python',
      source: 'x',
      function: 'f',
      depends: [
        { name: 'a.py', source: '' },
        { name: 'a.py', source: '' },
      ],
    });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ field: 'depends[1].name' });
  });
});
