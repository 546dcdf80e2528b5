import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { createCa, createServerCert } from '../common/tls-cert.ts';
import { pinOf } from '../common/tls-pin.ts';
import { readTlsFiles } from './tls-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'picluster-tls-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ca = createCa();
const a = createServerCert(ca, { names: ['localhost'], ips: [] });
const b = createServerCert(ca, { names: ['localhost'], ips: [] });
const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));

describe('http.tls files', () => {
  it('reads a good pair and gives its pin', () => {
    const m = readTlsFiles({ cert: file('a.pem', a.cert), key: file('a-key.pem', a.key) });
    expect(m.pin).toBe(pinOf(a.der));
  });
  it.each([
    [{ cert: join(dir, 'missing.pem'), key: join(dir, 'a-key.pem') }, /http\.tls\.cert .*missing\.pem: cannot read it \(ENOENT\)/],
    [{ cert: join(dir, 'a.pem'), key: join(dir, 'missing-key.pem') }, /http\.tls\.key .*missing-key\.pem: cannot read it \(ENOENT\)/],
    [{ cert: file('junk.pem', 'hello'), key: join(dir, 'a-key.pem') }, /http\.tls\.cert .*junk\.pem is not a PEM certificate/],
    [{ cert: join(dir, 'a.pem'), key: join(dir, 'a.pem') }, /http\.tls\.key .*a\.pem is not a PEM private key/],
    [{ cert: join(dir, 'a.pem'), key: file('b-key.pem', b.key) }, /http\.tls\.key .*b-key\.pem does not go with http\.tls\.cert .*a\.pem/],
  ])('names the file at fault (%#)', (files, message) => {
    expect(() => readTlsFiles(files)).toThrow(message);
  });
  it('config: tls needs both paths, bootPort defaults to 8081', () => {
    expect(loadConfig({ text: 'http: { port: 1 }' }).http.bootPort).toBe(8081);
    expect(() => loadConfig({ text: 'http: { tls: { cert: a.pem } }' })).toThrow(/http\.tls\.key|http\/tls/);
    expect(() => loadConfig({ text: 'http: { tls: { cert: a.pem, key: b.pem, ca: c.pem } }' })).toThrow(/http\.tls/);
  });
});
