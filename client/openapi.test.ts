/**
 * The TS client and the master's OpenAPI document agree: every route in CLIENT_ROUTES exists
 * with its method, answers the schema the client types it with (by `$id`), and that schema in
 * the document has the fields the client's type has. Then the client talks to a real app on a
 * loopback port and every answer validates against its schema.
 */
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { Dispatcher } from '../dispatcher/dispatcher.ts';
import { RESPONSE_SCHEMAS } from '../dispatcher/http/api-schemas.ts';
import { buildApp } from '../dispatcher/http/app.ts';
import { registerLifecycleRoutes } from '../dispatcher/http/routes-lifecycle.ts';
import { registerRetentionRoutes } from '../dispatcher/http/routes-retention.ts';
import { Retention } from '../dispatcher/retention.ts';
import { NodeLifecycle } from '../dispatcher/lifecycle.ts';
import { createMetrics } from '../dispatcher/metrics.ts';
import { asyncStore } from '../dispatcher/store/async-adapter.ts';
import { MemoryStore } from '../dispatcher/store/memory-store.ts';
import { CLIENT_ROUTES, Cluster } from './cluster.ts';

const ADMIN = 'admin-token-0123456789abcdef';
let app: FastifyInstance;
let url: string;

const byId = new Map(RESPONSE_SCHEMAS.map((s) => [s.$id!, s]));

interface OpenApi {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> }>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[]; items?: unknown }> };
}

beforeAll(async () => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const shared = asyncStore(store); // one adapter for the dispatcher and the lifecycle
  const dispatcher = new Dispatcher({
    store: shared,
    clock,
    log: silentLogger(),
    clusterSecret: 'secret-0123456789abcdef01',
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
  const auth = { adminToken: ADMIN };
  app = await buildApp({
    dispatcher,
    registry: createMetrics(dispatcher, new Registry(), { processMetrics: false }),
    log: silentLogger(),
    auth,
    version: 't',
    storeKind: 'memory',
    plugins: [
      (a) => registerLifecycleRoutes(a, dispatcher, lifecycle, auth),
      (a) => registerRetentionRoutes(a, new Retention({ store: shared, clock, log: silentLogger(), historyDays: 30, jobHistoryDays: 30 }), auth),
    ],
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => app.close());

/** Every `$ref` in a JSON schema, as the component name it points to. */
function refs(schema: unknown): string[] {
  if (!schema || typeof schema !== 'object') return [];
  const own = '$ref' in schema && typeof schema.$ref === 'string' ? [schema.$ref.replace('#/components/schemas/', '')] : [];
  return [...own, ...Object.values(schema).flatMap(refs)];
}

describe('client ⇄ OpenAPI', () => {
  it.each(Object.entries(CLIENT_ROUTES))('%s: the route exists and answers the schema the client expects', (_name, route) => {
    const doc = app.swagger() as unknown as OpenApi;
    const op = doc.paths[route.path]?.[route.method.toLowerCase()];
    expect(op, `${route.method} ${route.path} in the OpenAPI document`).toBeDefined();
    const schema = op!.responses[String(route.status)]?.content?.['application/json']?.schema;
    expect(schema, `${route.status} response of ${route.method} ${route.path}`).toBeDefined();
    if ('array' in route) {
      const arrays = JSON.stringify(schema).includes(`"type":"array","items":{"$ref":"#/components/schemas/${route.response}"}`);
      expect(arrays, `an array of ${route.response}`).toBe(true);
    } else expect(refs(schema)).toContain(route.response);
    const component = doc.components.schemas[route.response];
    const declared = byId.get(route.response) as TSchema & { properties?: Record<string, unknown>; required?: string[] };
    expect(component, `components.schemas.${route.response}`).toBeDefined();
    expect(Object.keys(component!.properties ?? {}).sort()).toEqual(Object.keys(declared.properties ?? {}).sort());
    expect([...(component!.required ?? [])].sort()).toEqual([...(declared.required ?? [])].sort());
  });

  it('every documented route declares its success answer (OpenAPI tells the truth)', async () => {
    const doc = app.swagger() as unknown as OpenApi;
    const undeclared: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(ops)) {
        const ok = Object.entries(op.responses ?? {}).some(([status, r]) => /^2\d\d$/.test(status) && r.content !== undefined);
        if (!ok) undeclared.push(`${method.toUpperCase()} ${path}`);
      }
    expect(Object.keys(doc.paths).length).toBeGreaterThan(20);
    expect(undeclared).toEqual([]);
  });

  it('the client’s answers from a real master validate against their schemas', async () => {
    const c = new Cluster({ url, token: ADMIN });
    const check = (id: string, value: unknown) => {
      const errors = [...Value.Errors(byId.get(id)!, [...RESPONSE_SCHEMAS], value)].map((e) => `${e.path}: ${e.message}`);
      expect(errors, id).toEqual([]);
    };
    const submitted = await c.submit({ argv: ['true'], name: 'n', requirements: { cpus: 1 } });
    check('Job', await c.cancel(submitted.id));
    check('FullJob', await c.job(submitted.id));
    check('JobList', await c.jobs({ limit: 5 }));
    check('JobCounts', await c.jobCounts());
    check('JobOutput', await c.output(submitted.id));
    check('Node', await c.addNode({ name: 'x1', mac: '52:54:00:00:00:01', power: { driver: 'manual' } }));
    check('NodeList', await c.nodes());
    check('NodeDetail', await c.node('x1'));
    check('Node', await c.nodeAction('x1', 'drain', {}));
    check('Node', await c.nodeAction('x1', 'undrain', {}));
    check('IdentifyResult', await c.nodeAction('x1', 'identify', { seconds: 1 }));
    check('AlertList', await c.alerts());
    check('PowerOpList', await c.powerOps('x1'));
    check('Overview', await c.overview());
    check('RemovedNode', await c.removeNode('x1'));
  });
});
