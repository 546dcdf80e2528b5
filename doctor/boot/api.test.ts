/** The boot doctor through the Dispatcher and `GET /api/nodes/:name/boot-doctor` (app.inject). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { PROTOCOL_VERSION, type DispatcherMessage } from '../../common/protocol.ts';
import { deriveNodeToken } from '../../common/tokens.ts';
import { Dispatcher } from '../../dispatcher/dispatcher.ts';
import { buildApp } from '../../dispatcher/http/app.ts';
import { createMetrics } from '../../dispatcher/metrics.ts';
import { asyncStore } from '../../dispatcher/store/async-adapter.ts';
import { MemoryStore } from '../../dispatcher/store/memory-store.ts';
import { buildInventory } from '../../inventory/inventory.ts';
import { PI3_NODE, T0, pi3Boot } from './timelines.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const SECRET = 'cluster-secret-0123456789abcdef';
let app: FastifyInstance;
let dispatcher: Dispatcher;
let clock: ManualClock;

beforeEach(async () => {
  clock = new ManualClock(T0 + 10 * 60_000);
  dispatcher = new Dispatcher({
    store: asyncStore(new MemoryStore()),
    clock,
    log: silentLogger(),
    clusterSecret: SECRET,
    inventory: buildInventory({ nodes: [{ name: PI3_NODE.name, mac: PI3_NODE.mac, serial: PI3_NODE.serial, model: 'pi3b+' }] }),
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

const hello = (token: string) => ({
  type: 'hello' as const,
  protocol: PROTOCOL_VERSION,
  token,
  node: { name: PI3_NODE.name, cpus: 4, memoryMb: 1024, arch: 'arm64', platform: 'linux', agentVersion: 't', bootId: 'b1' },
  running: [],
});
const link = { sent: [] as DispatcherMessage[], send: (m: DispatcherMessage) => link.sent.push(m), close: () => {} };
const doctor = () => app.inject({ url: `/api/nodes/${PI3_NODE.name}/boot-doctor`, headers: { authorization: `Bearer ${ADMIN}` } });

describe('boot doctor API', () => {
  it('names a refused agent after a complete TFTP boot, and clears once the agent is accepted', async () => {
    for (const e of pi3Boot().filter((x) => x.kind !== 'agent-hello')) dispatcher.recordBootEvent(e);
    expect(dispatcher.agentHello(hello(deriveNodeToken(SECRET, 'someone-else')), link)).toMatchObject({ ok: false, code: 'BAD_TOKEN' });
    const res = await doctor();
    expect(res.statusCode).toBe(200);
    const body = res.json<{ verdict: string; lastStep: string; findings: { id: string; evidence: string; fix: string }[] }>();
    expect(body.verdict).toBe('failed');
    // The runtime's HTTP fetch carries only the Pi's IP; it joins the timeline by the serial its
    // prefixed TFTP reads came from (dispatcher/core/ip-join.ts).
    expect(body.lastStep).toBe('http runtime/arm64.sqfs complete');
    expect(body.findings.map((f) => f.id)).toEqual(['token-refused']);
    expect(body.findings[0]!.evidence).toContain('BAD_TOKEN');

    expect(dispatcher.agentHello(hello(deriveNodeToken(SECRET, PI3_NODE.name)), link)).toMatchObject({ ok: true });
    const after = (await doctor()).json<{ verdict: string; findings: unknown[] }>();
    expect(after).toMatchObject({ verdict: 'booted', findings: [] });
  });

  it('a node never seen: no DISCOVER; an unknown node: 404', async () => {
    expect((await doctor()).json()).toMatchObject({ verdict: 'failed', findings: [{ id: 'no-boot-events', severity: 'fail' }] });
    const res = await app.inject({ url: '/api/nodes/nope/boot-doctor', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.statusCode).toBe(404);
  });
});

const BIN = fileURLToPath(new URL('../../bin/picluster.js', import.meta.url));

describe('picluster doctor <node>', () => {
  it('prints the verdict, the last step and each finding with its fix; exit 1 on a failure', { timeout: 30_000 }, async () => {
    for (const e of pi3Boot().filter((x) => x.kind !== 'agent-hello' && x.kind !== 'http-fetch')) dispatcher.recordBootEvent(e);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const r = await promisify(execFile)(process.execPath, [BIN, 'doctor', PI3_NODE.name, '--url', url, '--token', ADMIN]).then(
      (x) => ({ code: 0, ...x }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^node7\.lan: failed\nlast step: tftp 1a2b3c4d\/initramfs8 complete \(\d+s ago\)/);
    expect(r.stdout).toMatch(/FAIL {2}Boot files loaded, but no agent connected {2}\[no-agent, §6\]/);
    expect(r.stdout).toMatch(/fix: {2}The kernel or \/init stopped/);
  });
});
