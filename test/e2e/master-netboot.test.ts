/**
 * `picluster master` with netboot enabled (unprivileged ports, loopback): a known Pi fetches
 * its generated cmdline.txt over TFTP with its own token; the transfer lands in the node's
 * boot timeline at /api/boot-events; the TFTP/DHCP counters are on the master's /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deriveNodeToken } from '../../common/tokens.ts';
import { writePlaceholderBootFiles } from './helpers/boot-files.ts';
import { ClusterHarness, freePort, tempDir, waitFor } from './helpers/cluster-processes.ts';

const run = promisify(execFile);
const haveCurl = await run('curl', ['--version']).then(
  () => true,
  () => false,
);
const root = tempDir('picluster-netboot-root-');
mkdirSync(join(root, 'pi'));
writeFileSync(join(root, 'pi', 'cmdline.txt'), 'console=ttyS1 picluster.dispatcher={{dispatcherUrl}} picluster.name={{nodeName}} picluster.token={{token}}\n');
writeFileSync(join(root, 'pi', 'start.elf'), Buffer.alloc(100_000, 7));
writePlaceholderBootFiles(root);
const tftpPort = await freePort();
const dhcpPort = await freePort();
const harness = new ClusterHarness({
  PICLUSTER_NETBOOT__ENABLED: 'true',
  PICLUSTER_NETBOOT__INTERFACE: 'lo',
  PICLUSTER_NETBOOT__SERVER_ADDRESS: '127.0.0.1',
  PICLUSTER_NETBOOT__TFTP_ROOT: join(root, 'pi'),
  PICLUSTER_NETBOOT__HTTP_ROOT: root,
  PICLUSTER_NETBOOT__TFTP__PORT: String(tftpPort),
  PICLUSTER_NETBOOT__DHCP__PORT: String(dhcpPort),
  PICLUSTER_NETBOOT__DHCP__CLIENT_PORT: String(await freePort()),
});

beforeAll(async () => {
  await harness.startMaster();
}, 60_000);
afterAll(() => harness.stop(), 30_000);

describe.skipIf(!haveCurl)('master with netboot enabled', () => {
  it('serves a known Pi its own cmdline.txt over TFTP and records the transfer in its timeline', { timeout: 60_000 }, async () => {
    await harness.api('POST', '/api/nodes', { name: 'node6.lan', mac: 'b8:27:eb:10:00:06', serial: '89eb9bb9', model: 'pi3b+' });
    const { stdout } = await run('curl', ['-s', '--max-time', '20', `tftp://127.0.0.1:${tftpPort}/89eb9bb9/cmdline.txt`]);
    const token = deriveNodeToken(readFileSync(join(harness.dataDir, 'cluster-secret'), 'utf8').trim(), 'node6.lan');
    expect(stdout).toBe(`console=ttyS1 picluster.dispatcher=ws://127.0.0.1:${harness.port}/agent picluster.name=node6.lan picluster.token=${token}\n`);
    const shared = await run('curl', ['-s', '--max-time', '20', '-o', join(root, 'got.elf'), `tftp://127.0.0.1:${tftpPort}/89eb9bb9/start.elf`]);
    expect(shared.stderr).toBe('');
    expect(readFileSync(join(root, 'got.elf')).equals(readFileSync(join(root, 'pi', 'start.elf')))).toBe(true);
    const events = await waitFor('tftp boot events', async () => {
      const e = await harness.api<{ kind: string; outcome: string; detail?: { file?: string } }[]>('GET', '/api/boot-events?node=node6.lan');
      return e.filter((x) => x.kind === 'tftp-transfer').length >= 2 ? e : undefined;
    });
    expect(events.map((e) => e.detail?.file)).toEqual(expect.arrayContaining(['89eb9bb9/cmdline.txt', '89eb9bb9/start.elf']));
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    expect(metrics).toMatch(/picluster_tftp_transfers_total\{outcome="complete"\} [1-9]/);
  });

  it('refuses an unknown serial its per-node file (falls back to the shared template only)', { timeout: 30_000 }, async () => {
    const { stdout } = await run('curl', ['-s', '--max-time', '20', `tftp://127.0.0.1:${tftpPort}/deadbeef/cmdline.txt`]);
    expect(stdout).toContain('picluster.token={{token}}'); // the unfilled shared template: no token for anyone
  });
});
