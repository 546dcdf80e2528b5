/**
 * Input files over REST (issue 14 item 4): upload with hash check and size limit, dedup,
 * metadata, content for agents (node token) and admins, and jobs naming files.
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
import { deriveNodeToken, verifyNodeToken } from '../../common/tokens.ts';
import { Dispatcher } from '../dispatcher.ts';
import { BlobStore } from '../files/blob-store.ts';
import { createMetrics } from '../metrics.ts';
import { asyncStore } from '../store/async-adapter.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { buildApp } from './app.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const SECRET = 'cluster-secret-0123456789abcdef';
const LIMIT = 64 * 1024;
let app: FastifyInstance;
let dir: string;
let blobs: BlobStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-files-'));
  blobs = new BlobStore(join(dir, 'files'));
  const dispatcher = new Dispatcher({
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
    auth: { adminToken: ADMIN },
    version: '0.0.0-test',
    storeKind: 'memory',
    files: {
      blobs,
      maxUploadBytes: LIMIT,
      artifacts: new BlobStore(join(dir, 'artifacts')),
      maxArtifactBytes: LIMIT,
      nodeTokenValid: (n, t) => verifyNodeToken(SECRET, n, t),
    },
  });
});
afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const upload = (body: Buffer, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/api/files',
    headers: {
      authorization: `Bearer ${ADMIN}`,
      'content-type': 'application/octet-stream',
      'x-picluster-sha256': sha(body),
      'x-picluster-name': 'data.csv',
      ...headers,
    },
    payload: body,
  });

describe('POST /api/files', () => {
  it('stores the bytes content-addressed: 201 when new, 200 when already there, metadata and content after', async () => {
    const body = Buffer.from('a,b\n1,2\n');
    const first = await upload(body);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ sha256: sha(body), sizeBytes: body.length });
    const again = await upload(body, { 'x-picluster-name': 'other-name.csv' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ sha256: sha(body), sizeBytes: body.length });

    const meta = await app.inject({ url: `/api/files/${sha(body)}`, headers: { authorization: `Bearer ${ADMIN}` } });
    expect(meta.statusCode).toBe(200);
    expect(meta.json()).toEqual({ sha256: sha(body), sizeBytes: body.length });
    const content = await app.inject({ url: `/api/files/${sha(body)}/content`, headers: { authorization: `Bearer ${ADMIN}` } });
    expect(content.statusCode).toBe(200);
    expect(content.rawPayload.equals(body)).toBe(true);
  });

  it('refuses bytes that do not match x-picluster-sha256 with a 400 naming the header, and keeps nothing', async () => {
    const r = await upload(Buffer.from('the real bytes'), { 'x-picluster-sha256': sha('other bytes') });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('FILE_HASH_MISMATCH');
    expect(r.json().message).toContain('x-picluster-sha256');
    expect(blobs.has(sha('the real bytes'))).toBe(false);
    expect(blobs.has(sha('other bytes'))).toBe(false);
  });

  it('refuses an upload over files.maxUploadBytes with 413 and a message naming the limit', async () => {
    const r = await upload(Buffer.alloc(LIMIT + 1, 7));
    expect(r.statusCode).toBe(413);
    expect(r.json().code).toBe('FILE_TOO_LARGE');
    expect(r.json().message).toContain('files.maxUploadBytes');
    // exactly the limit is fine (the app's 64 KiB default body limit does not apply here)
    expect((await upload(Buffer.alloc(LIMIT, 7))).statusCode).toBe(201);
  });

  it('answers uploads over a real socket, where the body is the request stream itself (a walk of it once spun the master)', async () => {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const post = (body: string, hash: string) =>
      fetch(`${url}/api/files`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/octet-stream', 'x-picluster-sha256': hash },
        body,
        signal: AbortSignal.timeout(10_000),
      });
    const bad = await post('the bytes', sha('other'));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('FILE_HASH_MISMATCH');
    expect((await post('the bytes', sha('the bytes'))).status).toBe(201);
  });

  it('needs the admin token (checked before the body), a sha256 header and the octet-stream type', async () => {
    const body = Buffer.from('x');
    expect((await upload(body, { authorization: 'Bearer nope' })).statusCode).toBe(401);
    const noHash = await app.inject({
      method: 'POST',
      url: '/api/files',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/octet-stream' },
      payload: body,
    });
    expect(noHash.statusCode).toBe(400);
    expect(noHash.json().message).toContain('x-picluster-sha256');
    const json = await app.inject({
      method: 'POST',
      url: '/api/files',
      headers: { authorization: `Bearer ${ADMIN}`, 'x-picluster-sha256': sha('{}') },
      payload: {},
    });
    expect(json.statusCode).toBe(400);
  });
});

describe('GET /api/files/:sha256', () => {
  it('is 404 FILE_NOT_FOUND for an unknown hash (what the Python client checks before uploading)', async () => {
    const r = await app.inject({ url: `/api/files/${sha('nothing')}`, headers: { authorization: `Bearer ${ADMIN}` } });
    expect(r.statusCode).toBe(404);
    expect(r.json().code).toBe('FILE_NOT_FOUND');
  });

  it('serves content to a node with its own token, not with another node token', async () => {
    const body = Buffer.from('payload');
    await upload(body);
    const url = `/api/files/${sha(body)}/content`;
    const ok = await app.inject({ url, headers: { authorization: `Bearer ${deriveNodeToken(SECRET, 'pi1')}`, 'x-picluster-node': 'pi1' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.rawPayload.equals(body)).toBe(true);
    const wrong = await app.inject({ url, headers: { authorization: `Bearer ${deriveNodeToken(SECRET, 'pi2')}`, 'x-picluster-node': 'pi1' } });
    expect(wrong.statusCode).toBe(401);
    const none = await app.inject({ url });
    expect(none.statusCode).toBe(401);
  });
});

describe('jobs with files', () => {
  const submit = (payload: unknown) =>
    app.inject({ method: 'POST', url: '/api/jobs', headers: { authorization: `Bearer ${ADMIN}` }, payload: payload as object });

  it('keeps the files in the stored spec when every hash is known', async () => {
    const body = Buffer.from('1\n2\n3\n');
    await upload(body);
    const files = [{ name: 'in/data.txt', sha256: sha(body), sizeBytes: body.length }];
    const r = await submit({ argv: ['cat', 'in/data.txt'], files });
    expect(r.statusCode).toBe(201);
    expect(r.json().spec.files).toEqual(files);
  });

  it('refuses an unknown file id with a 400 naming it', async () => {
    const unknown = sha('never uploaded');
    const r = await submit({ argv: ['true'], files: [{ name: 'x.bin', sha256: unknown, sizeBytes: 3 }] });
    expect(r.statusCode).toBe(400);
    expect(r.json().field).toBe('files[0].sha256');
    expect(r.json().message).toContain('invalid job');
  });

  it('refuses names that leave the job directory, duplicates, and a wrong size', async () => {
    const body = Buffer.from('abc');
    await upload(body);
    const ref = { sha256: sha(body), sizeBytes: 3 };
    for (const name of ['../etc/passwd', 'a/../../b', '/abs', 'a//b', './x']) {
      const r = await submit({ argv: ['true'], files: [{ name, ...ref }] });
      expect(r.statusCode, name).toBe(400);
      expect(r.json().field, name).toBe('files[0].name');
    }
    const dup = await submit({
      argv: ['true'],
      files: [
        { name: 'a', ...ref },
        { name: 'a', ...ref },
      ],
    });
    expect(dup.json().field).toBe('files[1].name');
    const size = await submit({ argv: ['true'], files: [{ name: 'a', sha256: ref.sha256, sizeBytes: 4 }] });
    expect(size.json().field).toBe('files[0].sizeBytes');
  });
});
