/**
 * The agent's input-file cache against a real master HTTP app on loopback: fetched with the
 * node token, verified, cached by hash within its byte bound (LRU), copied into the scratch dir.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/logger.ts';
import { deriveNodeToken, verifyNodeToken } from '../common/tokens.ts';
import { BlobStore } from '../dispatcher/files/blob-store.ts';
import { installErrorHandler } from '../dispatcher/http/error-handler.ts';
import { FileInfo, registerFileRoutes } from '../dispatcher/http/routes-files.ts';
import { ErrorBody } from '../dispatcher/http/schemas.ts';
import { FileCache, filesBaseUrl } from './file-cache.ts';
import { Readable } from 'node:stream';

const SECRET = 'cluster-secret-0123456789abcdef';
let dir: string;
let app: FastifyInstance;
let blobs: BlobStore;
let url: string;
let fetches: number;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-fcache-'));
  blobs = new BlobStore(join(dir, 'master'));
  app = Fastify();
  installErrorHandler(app);
  app.addSchema(ErrorBody);
  app.addSchema(FileInfo);
  fetches = 0;
  app.addHook('onRequest', async (req) => {
    if (req.url.endsWith('/content')) fetches++;
  });
  registerFileRoutes(
    app,
    { adminToken: 'admin-token-0123456789abcdef' },
    { blobs, maxUploadBytes: 1 << 20, nodeTokenValid: (n, t) => verifyNodeToken(SECRET, n, t) },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  url = `ws://127.0.0.1:${addr.port}/agent`;
});
afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = async (b: Buffer) => ({ sha256: (await blobs.put(Readable.from([b]), { maxBytes: 1 << 20 })).sha256, sizeBytes: b.length });
const cache = (capBytes: number, token = deriveNodeToken(SECRET, 'pi1')) =>
  new FileCache({ dir: join(dir, 'cache'), capBytes, dispatcherUrl: url, nodeName: 'pi1', token, log: silentLogger() });
const scratch = () => mkdtempSync(join(dir, 'scratch-'));

describe('FileCache', () => {
  it('maps the agent URL to the files API', () => {
    expect(filesBaseUrl('ws://m:8080/agent')).toBe('http://m:8080/api/files/');
    expect(filesBaseUrl('wss://m/agent?x=1')).toBe('https://m/api/files/');
  });

  it('fetches into the scratch dir under the name (subdirs made), and serves the second job from the cache', async () => {
    const a = Buffer.from('hello input');
    const ref = await put(a);
    const c = cache(1024);
    const s1 = scratch();
    expect(await c.materialise([{ name: 'data/in.txt', ...ref }], s1)).toEqual({ ok: true });
    expect(readFileSync(join(s1, 'data/in.txt'), 'utf8')).toBe('hello input');
    const s2 = scratch();
    expect(await c.materialise([{ name: 'x.txt', ...ref }], s2)).toEqual({ ok: true });
    expect(readFileSync(join(s2, 'x.txt'), 'utf8')).toBe('hello input');
    expect(fetches).toBe(1);
    expect(c.sizeBytes()).toBe(a.length);
  });

  it('stays within its byte bound, evicting the least recently used; a file bigger than the bound is fetched uncached', async () => {
    const c = cache(250);
    const refs = await Promise.all([Buffer.alloc(100, 1), Buffer.alloc(100, 2), Buffer.alloc(100, 3)].map(put));
    for (const r of refs) expect((await c.materialise([{ name: 'f', ...r }], scratch())).ok).toBe(true);
    expect(c.sizeBytes()).toBeLessThanOrEqual(250);
    expect(c.has(refs[0]!.sha256)).toBe(false);
    expect(c.has(refs[2]!.sha256)).toBe(true);
    expect(readdirSync(join(dir, 'cache')).filter((n) => n !== 'tmp')).toHaveLength(2);
    const big = await put(Buffer.alloc(400, 9));
    const s = scratch();
    expect(await c.materialise([{ name: 'big', ...big }], s)).toEqual({ ok: true });
    expect(readFileSync(join(s, 'big')).length).toBe(400);
    expect(c.has(big.sha256)).toBe(false);
  });

  it('fails the attempt with a clear message when the bytes served do not hash to the job named', async () => {
    const ref = await put(Buffer.from('original'));
    // corrupt the stored blob behind the master's back
    writeFileSync(join(blobs.root, ref.sha256.slice(0, 2), ref.sha256), 'tampered');
    const got = await cache(1024).materialise([{ name: 'in', ...ref }], scratch());
    expect(got.ok).toBe(false);
    if (got.ok) return;
    expect(got.outcome).toBe('failed');
    expect(got.error).toMatch(/input file in: (hash mismatch|the master sent)/);
    expect(got.error).toContain(ref.sha256);
  });

  it('rejects (retryable) when the master does not have the file or refuses the token', async () => {
    const missing = { name: 'm', sha256: sha(Buffer.from('nope')), sizeBytes: 4 };
    const r1 = await cache(1024).materialise([missing], scratch());
    expect(r1).toMatchObject({ ok: false, outcome: 'rejected' });
    expect(!r1.ok && r1.error).toContain('404');
    const ref = await put(Buffer.from('x'));
    const r2 = await cache(1024, 'wrong-token').materialise([{ name: 'a', ...ref }], scratch());
    expect(r2).toMatchObject({ ok: false, outcome: 'rejected' });
    expect(!r2.ok && r2.error).toContain('401');
  });
});
