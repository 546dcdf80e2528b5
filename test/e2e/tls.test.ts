/**
 * TLS with real processes: `picluster tls init` makes the certificates, a master serves https
 * and wss with them, an agent connects by pin, the CLI submits with --ca, a wrong pin is
 * refused, the Python client (clients/python, from source) submits by CA file and by pin, SIGHUP swaps the certificate for new connections, /boot answers plain on its port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from 'node:tls';
import { deriveNodeToken } from '../../common/tokens.ts';
import { fetchWithTrust } from '../../common/tls-fetch.ts';
import { pinOf } from '../../common/tls-pin.ts';
import { BIN, freePort, tempDir, waitFor } from './helpers/cluster-processes.ts';

const run = promisify(execFile);
const dir = tempDir('picluster-tls-e2e-');
const children: ChildProcess[] = [];
let port = 0;
let bootPort = 0;
let pin = '';
const url = () => `https://127.0.0.1:${port}`;
const PYTHON = '/usr/bin/python3';
const PY_SRC = fileURLToPath(new URL('../../clients/python/src', import.meta.url));

/** Runs a Python snippet with the client from source; it prints one JSON line per check. */
const py = (code: string, env: Record<string, string> = {}) =>
  run(PYTHON, ['-c', code], { env: { ...process.env, PYTHONPATH: PY_SRC, PYTHONDONTWRITEBYTECODE: '1', ...env }, timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [BIN, ...args], { env: { ...process.env, PICLUSTER_URL: url(), PICLUSTER_DATA_DIR: join(dir, 'data'), ...env }, timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  (child as ChildProcess & { output: () => string }).output = () => out;
  children.push(child);
  return child;
}

/** The pin of the certificate a fresh TLS connection sees. */
async function servedPin(): Promise<string> {
  const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await once(s, 'secureConnect');
  const p = pinOf(s.getPeerCertificate().raw);
  s.destroy();
  return p;
}

let master: ChildProcess;
beforeAll(async () => {
  const init = await cli(['tls', 'init', '--dir', join(dir, 'tls'), '--name', 'localhost', '--ip', '127.0.0.1']);
  expect(init.code).toBe(0);
  pin = /pin: (sha256:[0-9a-f]{64})/.exec(init.stdout)![1]!;
  expect(init.stdout).toContain(`cert: ${join(dir, 'tls', 'server.pem')}`);
  port = await freePort();
  bootPort = await freePort();
  writeFileSync(
    join(dir, 'picluster.yaml'),
    `http:\n  host: 127.0.0.1\n  port: ${port}\n  bootPort: ${bootPort}\n  tls:\n    cert: ${join(dir, 'tls', 'server.pem')}\n    key: ${join(dir, 'tls', 'server-key.pem')}\n`,
  );
  master = start(['master', '--config', join(dir, 'picluster.yaml')], {
    PICLUSTER_DATA_DIR: join(dir, 'data'),
    PICLUSTER_INVENTORY: join(dir, 'no-inventory.yaml'),
    PICLUSTER_LOG_LEVEL: 'info',
  });
  const f = fetchWithTrust({ pin });
  await waitFor(
    'https master /health',
    async () => {
      if (master.exitCode !== null) throw new Error(`master exited: ${(master as ChildProcess & { output: () => string }).output()}`);
      return (await f(`${url()}/health`).catch(() => undefined))?.ok;
    },
    30_000,
  );
}, 90_000);

afterAll(async () => {
  for (const c of children.reverse()) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.kill('SIGTERM');
    await once(c, 'exit');
  }
}, 30_000);

describe('TLS', () => {
  it('an agent connects by pin and the CLI submits with --ca; a wrong pin is refused', { timeout: 90_000 }, async () => {
    const secret = readFileSync(join(dir, 'data', 'cluster-secret'), 'utf8').trim();
    const agentArgs = (name: string, p: string) => [
      'agent',
      '--dispatcher',
      `wss://127.0.0.1:${port}/agent`,
      '--name',
      name,
      '--tls-pin',
      p,
      '--work-dir',
      join(dir, 'agents', name),
    ];
    start(agentArgs('t1', pin), { PICLUSTER_AGENT_TOKEN: deriveNodeToken(secret, 't1') });
    const r = await cli(['submit', '--ca', join(dir, 'tls', 'ca.pem'), '--', 'echo', 'over-tls']);
    expect(r).toMatchObject({ code: 0, stdout: 'over-tls\n' });
    const wrong = `sha256:${'0'.repeat(64)}`;
    const refused = await cli(['nodes', '--pin', wrong]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`certificate pin mismatch: expected ${wrong}, got ${pin}`);
    expect(refused.stderr).toContain('TLS_PIN_MISMATCH');
    const plain = await cli(['nodes'], { PICLUSTER_URL: url() });
    expect(plain.code).not.toBe(0);
    const bad = start(agentArgs('t2', wrong), { PICLUSTER_AGENT_TOKEN: deriveNodeToken(secret, 't2') });
    await waitFor(
      'agent logs the pin mismatch',
      async () => (bad as ChildProcess & { output: () => string }).output().includes('certificate pin mismatch'),
      30_000,
    );
  });

  it.skipIf(!existsSync(PYTHON))(
    'the Python client submits and fetches results by CA file and by pin; a wrong pin and plain http fail clearly',
    { timeout: 60_000 },
    async () => {
      const wrong = `sha256:${'1'.repeat(64)}`;
      const r = await py(
        `
import json, os, sys
from picluster import Cluster, ClusterError, TlsPinMismatch
url, ca, pin, wrong, token = (os.environ[k] for k in ("U", "CA", "PIN", "WRONG", "TOKEN"))
def out(**kw): print(json.dumps(kw), flush=True)
with Cluster(url, token, ca_file=ca) as c:
    job = c.submit(["echo", "py-ca"])
    out(check="ca", result=job.result(timeout=30), state=job.wait(timeout=30).state)
with Cluster(url, token, pin=pin) as c:
    jobs = [c.submit(["echo", a]) for a in ("p1", "p2")]
    out(check="pin", results=[j.result(timeout=30) for j in jobs], stdout=jobs[0].output().stdout)
try:
    Cluster(url, token, pin=wrong).submit(["echo", "never"])
    out(check="wrong", raised=None)
except TlsPinMismatch as e:
    out(check="wrong", raised=type(e).__name__, code=e.code, message=e.message)
try:
    Cluster(url.replace("https://", "http://"), token).nodes()
    out(check="plain", raised=None)
except ClusterError as e:
    out(check="plain", raised=type(e).__name__, code=e.code, message=e.message)
`,
        { U: url(), CA: join(dir, 'tls', 'ca.pem'), PIN: pin, WRONG: wrong, TOKEN: readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim() },
      );
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toEqual({ check: 'ca', result: 'py-ca\n', state: 'succeeded' });
      expect(lines[1]).toMatchObject({ check: 'pin', results: ['p1\n', 'p2\n'], stdout: 'p1\n' });
      expect(lines[2]).toEqual({
        check: 'wrong',
        raised: 'TlsPinMismatch',
        code: 'TLS_PIN_MISMATCH',
        message: `certificate pin mismatch: expected ${wrong}, got ${pin}`,
      });
      expect(lines[3]).toMatchObject({ check: 'plain', raised: 'ClusterError', code: 'UNREACHABLE' });
      expect(lines[3]!.message).toMatch(/use an https:\/\/ URL/);
    },
  );

  it('security headers on /, /docs, /api and /boot; /boot plain on its own port', { timeout: 30_000 }, async () => {
    const f = fetchWithTrust({ pin });
    for (const path of ['/', '/docs', '/docs/', '/api/nodes', '/health']) {
      const res = await f(url() + path);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('strict-transport-security'), path).toMatch(/max-age=/);
      expect(res.headers.get('content-security-policy'), path).toMatch(/frame-ancestors 'none'|default-src/);
      await res.arrayBuffer();
    }
    const boot = await fetch(`http://127.0.0.1:${bootPort}/boot/ipxe?mac=aa:bb:cc:dd:ee:ff`);
    expect(boot.status).toBe(404);
    expect(await boot.text()).toContain('#!ipxe');
    expect(boot.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`http://127.0.0.1:${bootPort}/api/nodes`)).status).toBe(404);
  });

  it('SIGHUP swaps the certificate for new connections; a bad file keeps the old one', { timeout: 60_000 }, async () => {
    expect(await servedPin()).toBe(pin);
    const init = await cli(['tls', 'init', '--dir', join(dir, 'tls'), '--force', '--name', 'localhost', '--ip', '127.0.0.1']);
    const next = /pin: (sha256:[0-9a-f]{64})/.exec(init.stdout)![1]!;
    expect(next).not.toBe(pin);
    master.kill('SIGHUP');
    await waitFor('new certificate served', async () => (await servedPin()) === next, 20_000);
    writeFileSync(join(dir, 'tls', 'server.pem'), 'not a certificate');
    master.kill('SIGHUP');
    await waitFor(
      'reload failure logged',
      async () => (master as ChildProcess & { output: () => string }).output().includes('tls certificate reload failed'),
      20_000,
    );
    expect(await servedPin()).toBe(next);
  });
});
