/**
 * Job artifacts over REST (issue 14 item 4): an agent uploads with its node token, the result
 * lists them, the list is committed with the attempt's end (a duplicate or foreign result's
 * artifacts are not accepted), and they are listed and downloadable by name.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { PROTOCOL_VERSION, type DispatcherMessage, type ResultBody } from '../../common/protocol.ts';
import { deriveNodeToken, verifyNodeToken } from '../../common/tokens.ts';
import { Dispatcher } from '../dispatcher.ts';
import { BlobStore } from '../files/blob-store.ts';
import { createMetrics } from '../metrics.ts';
import type { AgentLink } from '../node-runtime.ts';
import { asyncStore } from '../store/async-adapter.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { buildApp } from './app.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const SECRET = 'cluster-secret-0123456789abcdef';
let app: FastifyInstance;
let dispatcher: Dispatcher;
let clock: ManualClock;
let dir: string;

class Link implements AgentLink {
  sent: DispatcherMessage[] = [];
  send(m: DispatcherMessage): void {
    this.sent.push(m);
  }
  close(): void {}
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-artifacts-'));
  clock = new ManualClock();
  dispatcher = new Dispatcher({
    store: asyncStore(new MemoryStore()),
    clock,
    log: silentLogger(),
    clusterSecret: SECRET,
    defer: (fn) => fn(),
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
    files: {
      blobs: new BlobStore(join(dir, 'files')),
      maxUploadBytes: 1 << 20,
      artifacts: new BlobStore(join(dir, 'artifacts')),
      maxArtifactBytes: 1024,
      nodeTokenValid: (n, t) => verifyNodeToken(SECRET, n, t),
    },
  });
});
afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const connect = async (name: string) => {
  const link = new Link();
  const node = { name, cpus: 2, memoryMb: 1024, arch: 'arm64', platform: 'linux', agentVersion: '0.1.0', bootId: `boot-${name}` };
  expect(dispatcher.agentHello({ type: 'hello', protocol: PROTOCOL_VERSION, token: deriveNodeToken(SECRET, name), node, running: [] }, link)).toMatchObject({
    ok: true,
  });
  dispatcher.agentMessage(name, link, { type: 'pull', slots: 1 });
  await dispatcher.idle();
  return link;
};
const uploadAs = (node: string, body: Buffer, name: string) =>
  app.inject({
    method: 'POST',
    url: '/api/artifacts',
    headers: {
      authorization: `Bearer ${deriveNodeToken(SECRET, node)}`,
      'x-picluster-node': node,
      'content-type': 'application/octet-stream',
      'x-picluster-sha256': sha(body),
      'x-picluster-name': name,
    },
    payload: body,
  });
const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${ADMIN}` } });

describe('artifacts', () => {
  it('are uploaded by the agent, listed with the result, downloadable by name, and accepted once', async () => {
    const [job] = await dispatcher.submit([{ spec: { kind: 'exec', argv: ['true'] } }]);
    const link = await connect('pi1');
    const assign = link.sent.find((m) => m.type === 'assign') as Extract<DispatcherMessage, { type: 'assign' }>;
    const a = Buffer.from('thumbnail bytes');
    const b = Buffer.from('hi\n');
    expect((await uploadAs('pi1', a, 'thumb.pgm')).statusCode).toBe(201);
    expect((await uploadAs('pi1', b, 'x.txt')).statusCode).toBe(201);
    const artifacts = [
      { name: 'thumb.pgm', sha256: sha(a), sizeBytes: a.length },
      { name: 'sub/x.txt', sha256: sha(b), sizeBytes: b.length },
    ];
    const result = async (o: Partial<ResultBody>) => {
      dispatcher.agentMessage('pi1', link, {
        type: 'result',
        result: { attemptId: assign.attemptId, jobId: job!.id, outcome: 'succeeded', exitCode: 0, startedAt: clock.now(), durationMs: 5, ...o },
      });
      await dispatcher.idle();
    };
    await result({ artifacts, artifactsNote: 'truncated: 1 files (9 bytes) left out', cpuMs: 120, peakMemoryBytes: 5_000_000 });
    // per-node accounting from the stored result: CPU time summed, peak memory the largest seen
    expect(dispatcher.getNode('pi1')).toMatchObject({ cpuMs: 120, peakMemoryBytes: 5_000_000 });

    const list = await get(`/api/jobs/${job!.id}/artifacts`);
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ jobId: job!.id, attemptId: assign.attemptId, artifacts, note: 'truncated: 1 files (9 bytes) left out' });
    const one = await get(`/api/jobs/${job!.id}/artifacts/sub/x.txt`);
    expect(one.statusCode).toBe(200);
    expect(one.rawPayload.equals(b)).toBe(true);
    expect((await get(`/api/jobs/${job!.id}`)).json().result.artifacts).toEqual(artifacts);

    // the same result again with other artifacts (a resend): acked as stale, the list stays
    await result({ artifacts: [{ name: 'evil.txt', sha256: sha(b), sizeBytes: b.length }] });
    expect(dispatcher.staleResults).toBe(1);
    expect(dispatcher.getNode('pi1')).toMatchObject({ cpuMs: 120, peakMemoryBytes: 5_000_000 }); // not counted twice
    expect((await get(`/api/jobs/${job!.id}/artifacts`)).json().artifacts).toEqual(artifacts);
    expect((await get(`/api/jobs/${job!.id}/artifacts/evil.txt`)).statusCode).toBe(404);
  });

  it('are not listed from another node; uploads need a node token or admin and stay within files.maxArtifactBytes', async () => {
    const [job] = await dispatcher.submit([{ spec: { kind: 'exec', argv: ['true'] } }]);
    const l1 = await connect('pi1');
    const l2 = new Link();
    const assign = l1.sent.find((m) => m.type === 'assign') as Extract<DispatcherMessage, { type: 'assign' }>;
    const node = { name: 'pi2', cpus: 2, memoryMb: 1024, arch: 'arm64', platform: 'linux', agentVersion: '0.1.0', bootId: 'boot-pi2' };
    dispatcher.agentHello({ type: 'hello', protocol: PROTOCOL_VERSION, token: deriveNodeToken(SECRET, 'pi2'), node, running: [] }, l2);
    const b = Buffer.from('x');
    dispatcher.agentMessage('pi2', l2, {
      type: 'result',
      result: {
        attemptId: assign.attemptId,
        jobId: job!.id,
        outcome: 'succeeded',
        startedAt: 0,
        durationMs: 1,
        artifacts: [{ name: 'x', sha256: sha(b), sizeBytes: 1 }],
      },
    });
    expect((await get(`/api/jobs/${job!.id}/artifacts`)).json()).toMatchObject({ jobId: job!.id, artifacts: [] });
    expect((await dispatcher.getJob(job!.id)).state).toBe('running');

    const anon = await app.inject({
      method: 'POST',
      url: '/api/artifacts',
      headers: { 'content-type': 'application/octet-stream', 'x-picluster-sha256': sha(b) },
      payload: b,
    });
    expect(anon.statusCode).toBe(401);
    const big = await uploadAs('pi1', Buffer.alloc(1025), 'big.bin');
    expect(big.statusCode).toBe(413);
    expect(big.json().message).toContain('files.maxArtifactBytes');
    expect((await get('/api/jobs/999/artifacts')).statusCode).toBe(404);
  });
});
