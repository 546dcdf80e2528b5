/**
 * The TypeScript client against an https server on loopback with the certificates `picluster
 * tls init` makes: the right pin or the CA file gets an answer; a wrong pin is TLS_PIN_MISMATCH
 * and a certificate nobody trusts is TLS_TRUST (as clients/python raises them), both before any
 * request reaches the server; a closed port is UNREACHABLE.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createServerCert } from '../common/tls-cert.ts';
import { pinOf } from '../common/tls-pin.ts';
import { Cluster, ClusterApiError } from './cluster.ts';

const ca = createCa();
const cert = createServerCert(ca, { names: ['localhost'], ips: ['127.0.0.1'] });
const pin = pinOf(Buffer.from(cert.cert.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));
let dir: string;
let caFile: string;
let server: Server;
let url: string;
const requests: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'picluster-client-tls-'));
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.cert);
  server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    requests.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ queued: 0, running: 0, succeeded: 1, failed: 0, cancelled: 0 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const failure = (p: Promise<unknown>): Promise<ClusterApiError> =>
  p.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(ClusterApiError);
      return e as ClusterApiError;
    },
  );

describe('the TypeScript client over TLS', () => {
  it('answers with the right pin or the CA file', async () => {
    expect(await new Cluster({ url, pin }).jobCounts()).toMatchObject({ succeeded: 1 });
    expect(await new Cluster({ url, caFile }).jobCounts()).toMatchObject({ succeeded: 1 });
  });

  it('a wrong pin is TLS_PIN_MISMATCH, and the server sees no request', async () => {
    const before = requests.length;
    const wrong = `sha256:${'0'.repeat(64)}`;
    const e = await failure(new Cluster({ url, pin: wrong }).jobCounts());
    expect(e.code).toBe('TLS_PIN_MISMATCH');
    expect(e.message).toContain(`certificate pin mismatch: expected ${wrong}, got ${pin}`);
    expect(requests.length).toBe(before);
  });

  it('a certificate the trust refuses is TLS_TRUST, saying how to trust it', async () => {
    const foreign = createCa();
    const foreignFile = join(dir, 'foreign.pem');
    await writeFile(foreignFile, foreign.cert);
    const e = await failure(new Cluster({ url, caFile: foreignFile }).jobCounts());
    expect(e.code).toBe('TLS_TRUST');
    expect(e.message).toMatch(/--ca\/PICLUSTER_CA/);
    // no CA file and no pin: the system CAs refuse a `tls init` certificate the same way
    const system = await failure(new Cluster({ url }).jobCounts());
    expect(system.code).toBe('TLS_TRUST');
  });

  it('a closed port is UNREACHABLE', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const e = await failure(new Cluster({ url: `https://127.0.0.1:${port}`, pin }).jobCounts());
    expect(e.code).toBe('UNREACHABLE');
  });
});
