import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { integer, namedBits, oid, time, tlv } from './der.ts';
import { createCa, createServerCert, parseCert } from './tls-cert.ts';
import { fetchWithTrust } from './tls-fetch.ts';
import { loadTrust, normalizePin, pinOf } from './tls-pin.ts';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'picluster-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DER writer', () => {
  it.each([
    [0, '020100'],
    [127, '02017f'],
    [128, '02020080'],
    [256, '02020100'],
  ])('integer(%i) = %s', (n, hex) => expect(integer(n).toString('hex')).toBe(hex));
  it('drops leading zeros and keeps a positive sign', () => {
    expect(integer(Buffer.from([0, 0, 0x80])).toString('hex')).toBe('02020080');
  });
  it('encodes OIDs (X.690 example and ecdsa-with-SHA256)', () => {
    expect(oid('1.2.840.113549').toString('hex')).toBe('06062a864886f70d');
    expect(oid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(() => oid('1')).toThrow(/bad OID/);
  });
  it('uses the long length form from 128 bytes', () => {
    expect(tlv(0x04, Buffer.alloc(200)).subarray(0, 3).toString('hex')).toBe('0481c8');
    expect(tlv(0x04, Buffer.alloc(300)).subarray(0, 4).toString('hex')).toBe('0482012c');
  });
  it('named bits drop trailing zeros (keyCertSign+cRLSign, digitalSignature)', () => {
    expect(namedBits([5, 6]).toString('hex')).toBe('03020106');
    expect(namedBits([0]).toString('hex')).toBe('03020780');
  });
  it('UTCTime before 2050, GeneralizedTime after', () => {
    expect(time(new Date('2026-01-02T03:04:05Z')).toString('ascii', 2)).toBe('260102030405Z');
    expect(time(new Date('2051-01-02T03:04:05Z')).toString('ascii', 2)).toBe('20510102030405Z');
  });
});

describe('certificates', () => {
  const ca = createCa();
  const server = createServerCert(ca, { names: ['localhost', 'master.lan'], ips: ['127.0.0.1', '::1'] });
  const caPath = join(dir, 'ca.pem');
  const certPath = join(dir, 'server.pem');
  writeFileSync(caPath, ca.cert);
  writeFileSync(certPath, server.cert);

  it('parses back with node and is signed by the CA', () => {
    const c = parseCert(server.cert);
    const a = parseCert(ca.cert);
    expect(a.ca).toBe(true);
    expect(c.ca).toBe(false);
    expect(c.checkIssued(a)).toBe(true);
    expect(c.verify(a.publicKey)).toBe(true);
    expect(c.subjectAltName).toBe('DNS:localhost, DNS:master.lan, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(c.checkHost('master.lan')).toBe('master.lan');
    expect(c.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(c.fingerprint256.replace(/:/g, '').toLowerCase()).toBe(pinOf(server.der).slice('sha256:'.length));
  });

  it.skipIf(!hasOpenssl)('openssl reads and verifies them', () => {
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', certPath], { encoding: 'utf8' });
    expect(text).toMatch(/Version: 3/);
    expect(text).toMatch(/ecdsa-with-SHA256/);
    expect(text).toMatch(/NIST CURVE: P-256|prime256v1/);
    expect(text).toMatch(/DNS:localhost, DNS:master.lan, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
    expect(text).toMatch(/TLS Web Server Authentication/);
    expect(text).toMatch(/CA:FALSE/);
    const caText = execFileSync('openssl', ['x509', '-noout', '-text', '-in', caPath], { encoding: 'utf8' });
    expect(caText).toMatch(/CA:TRUE, pathlen:0/);
    expect(caText).toMatch(/Certificate Sign, CRL Sign/);
    const verify = execFileSync('openssl', ['verify', '-CAfile', caPath, '-purpose', 'sslserver', certPath], { encoding: 'utf8' });
    expect(verify.trim()).toBe(`${certPath}: OK`);
  });

  it('a real handshake: CA trust and pin accepted, a wrong pin and an untrusted CA refused', async () => {
    const srv = createHttpsServer({ cert: server.cert, key: server.key }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
    try {
      expect(await (await fetchWithTrust({ ca: ca.cert })(url)).text()).toBe('ok');
      expect(await (await fetchWithTrust({ pin: pinOf(server.der) })(url)).text()).toBe('ok');
      const wrong = `sha256:${'0'.repeat(64)}`;
      await expect(fetchWithTrust({ pin: wrong })(url)).rejects.toThrow(`certificate pin mismatch: expected ${wrong}, got ${pinOf(server.der)}`);
      await expect(fetchWithTrust({ ca: createCa().cert })(url)).rejects.toThrow(/unable to verify|self.signed|certificate/i);
      await expect(fetch(url)).rejects.toThrow();
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});

describe('pins and trust options', () => {
  it.each([
    ['sha256:' + 'AB'.repeat(32), 'sha256:' + 'ab'.repeat(32)],
    [Array(32).fill('AB').join(':'), 'sha256:' + 'ab'.repeat(32)],
    ['ab'.repeat(32), 'sha256:' + 'ab'.repeat(32)],
  ])('normalizes %s', (input, out) => expect(normalizePin(input)).toBe(out));
  it.each(['', 'sha256:abc', 'md5:' + 'ab'.repeat(16), 'zz'.repeat(32)])('refuses %j', (p) =>
    expect(() => normalizePin(p, '--tls-pin')).toThrow(/--tls-pin must be a SHA-256 fingerprint/),
  );
  it('names the CA file that is missing or not PEM', () => {
    expect(() => loadTrust({ caFile: join(dir, 'nope.pem') })).toThrow(/--ca .*nope.pem: ENOENT/);
    writeFileSync(join(dir, 'junk.pem'), 'hello');
    expect(() => loadTrust({ caFile: join(dir, 'junk.pem') })).toThrow(/junk.pem holds no PEM certificate/);
    expect(loadTrust({})).toBeUndefined();
  });
  it('a plain TCP peer is not mistaken for TLS', async () => {
    const srv = createServer((s) => s.end('HTTP/1.1 200 OK\r\n\r\n').on('error', () => undefined));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      await expect(fetchWithTrust({ pin: `sha256:${'1'.repeat(64)}` })(`https://127.0.0.1:${(srv.address() as AddressInfo).port}/`)).rejects.toThrow(
        /wrong version number|closed during the handshake/,
      );
    } finally {
      srv.close();
    }
  });
});
