/**
 * TLS with real processes: `picluster tls init` makes the certificates, a master serves https
 * and wss with them, an agent connects by pin, the CLI submits with --ca, a wrong pin is
 * refused, SIGHUP swaps the certificate for new connections, /boot answers plain on its port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
    const plain = await cli(['nodes'], { PICLUSTER_URL: url() });
    expect(plain.code).not.toBe(0);
    const bad = start(agentArgs('t2', wrong), { PICLUSTER_AGENT_TOKEN: deriveNodeToken(secret, 't2') });
    await waitFor(
      'agent logs the pin mismatch',
      async () => (bad as ChildProcess & { output: () => string }).output().includes('certificate pin mismatch'),
      30_000,
    );
  });

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
