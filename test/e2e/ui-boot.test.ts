/**
 * The Boot page and the node page's kernel log in a real browser (Debian's chromium via
 * playwright-core) against real processes: a master with netboot on unprivileged loopback ports,
 * real TFTP transfers (curl) and DHCP discovers for known nodes, and an agent that sends its
 * boot report from this machine's /dev/kmsg. Every wait is on a selector or the API.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { accessSync, appendFileSync, constants, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { encodeDhcp } from '../../netboot/dhcp/codec.ts';
import { readKmsg } from '../../node-agent/boot-report.ts';
import { pxeRequest } from '../../netboot/dhcp/testing.ts';
import { writePlaceholderBootFiles } from './helpers/boot-files.ts';
import { ClusterHarness, freePort, tempDir, waitFor } from './helpers/cluster-processes.ts';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const haveCurl = await run('curl', ['--version']).then(
  () => true,
  () => false,
);
const kmsgAccess = (mode: number): boolean => {
  try {
    accessSync('/dev/kmsg', mode);
    return true;
  } catch {
    return false;
  }
};
/** The sequence number of the oldest record in this machine's kernel ring; undefined when it cannot be read. */
const firstSeq = (): number | undefined => {
  try {
    return kmsgAccess(constants.R_OK) ? (readKmsg('/dev/kmsg', 1).records[0]?.seq ?? -1) : undefined;
  } catch {
    return undefined; // (readable mode bits, but dmesg_restrict or a container says no)
  }
};
const canReadKmsg = firstSeq() !== undefined;
// As root the test writes a milestone record the way the image's /init does (level 5, as /init
// writes it), so the milestone path is proven whatever the ring holds. It is written now, seconds
// before the agent's hello, so that it sorts before the hello even if this kernel's clock has
// drifted from /proc/uptime (which places the report's records on the master's clock).
const PROBE = 'ui-boot-probe';
const canWriteKmsg = canReadKmsg && kmsgAccess(constants.W_OK);
if (canWriteKmsg && haveChromium && haveCurl) appendFileSync('/dev/kmsg', `<5>picluster-init: milestone=${PROBE} by=ui-boot.test\n`);
// This machine's kernel ring still holds its first record only when it has not wrapped: a host up
// for long, or after the suites' bridges and taps, has dropped it, and no `kernel-start` is reported.
const ringWholeAtStart = firstSeq() === 0;
const expectMilestone = ringWholeAtStart || canWriteKmsg;
const VIEWER_TOKEN = 'viewer-token-for-ui-boot-0123456789';

const root = tempDir('picluster-ui-boot-root-');
mkdirSync(join(root, 'pi'));
writeFileSync(join(root, 'pi', 'start.elf'), Buffer.alloc(20_000, 1));
writePlaceholderBootFiles(root);
const dhcpPort = await freePort();
const tftpPort = await freePort();
const harness = new ClusterHarness({
  PICLUSTER_VIEWER_TOKEN: VIEWER_TOKEN,
  PICLUSTER_NETBOOT__ENABLED: 'true',
  PICLUSTER_NETBOOT__INTERFACE: 'lo',
  PICLUSTER_NETBOOT__SERVER_ADDRESS: '127.0.0.1',
  PICLUSTER_NETBOOT__TFTP_ROOT: join(root, 'pi'),
  PICLUSTER_NETBOOT__HTTP_ROOT: root,
  PICLUSTER_NETBOOT__TFTP__PORT: String(tftpPort),
  PICLUSTER_NETBOOT__DHCP__PORT: String(dhcpPort),
  PICLUSTER_NETBOOT__DHCP__CLIENT_PORT: String(await freePort()),
  PICLUSTER_NETBOOT__DHCP__PXE_PORT: String(await freePort()),
});

// No MAC for the Pi: its agent runs on this machine (whose MAC it reports, and a token only speaks
// for a node within what the inventory says of it); the Pi's TFTP requests carry its serial.
const PI = { name: 'boot-pi', serial: '2a2b2c2d', model: 'pi3b+' };
const ARM = { name: 'boot-arm', mac: '52:54:00:20:00:02', model: 'arm64-uefi' };

async function discover(mac: string): Promise<void> {
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((res, rej) => sock.send(encodeDhcp(pxeRequest({ mac })), dhcpPort, '127.0.0.1', (e) => (e ? rej(e) : res())));
  } finally {
    sock.close();
  }
}
const tftp = (path: string) => run('curl', ['-s', '--max-time', '20', '-o', '/dev/null', `tftp://127.0.0.1:${tftpPort}/${path}`]).catch(() => undefined);

let browser: Browser;
const pageErrors: string[] = [];

async function signIn(token: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(harness.url + '/');
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.locator('.l-live').waitFor();
  return page;
}

describe.skipIf(!haveChromium || !haveCurl)('Boot page and kernel log in chromium (master with netboot on loopback)', () => {
  beforeAll(async () => {
    await harness.startMaster();
    await harness.api('POST', '/api/nodes', PI);
    await harness.api('POST', '/api/nodes', ARM);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await harness.stop();
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('shows boot activity live across nodes, failures first, with each step and its duration', async () => {
    const page = await signIn(VIEWER_TOKEN);
    await page.getByRole('link', { name: 'Boot', exact: true }).click();
    await page.getByRole('heading', { name: 'Boot', exact: true }).waitFor();
    await page.getByText('No boot activity yet').waitFor();
    // the Pi netboots: its files over TFTP (live, no reload)
    await tftp(`${PI.serial}/start.elf`);
    await tftp(`${PI.serial}/cmdline.txt`);
    const piRow = page.locator(`tr[data-node="${PI.name}"]`);
    await piRow.getByText('booting').waitFor();
    await piRow.getByText(`tftp ${PI.serial}/cmdline.txt`).first().waitFor();
    // the arm64 machine asks for a file that is not there: it is listed first, as failed
    await discover(ARM.mac);
    await tftp('52-54-00-20-00-02/no-such.efi');
    const armRow = page.locator(`tr[data-node="${ARM.name}"]`);
    await armRow.getByText('failed', { exact: true }).waitFor();
    expect(await armRow.locator('ol.steps li').first().textContent()).toMatch(/^dhcp-discover \d/);
    await expect.poll(() => page.locator('table.boots tbody tr').first().getAttribute('data-node')).toBe(ARM.name);
    // the Pi's agent says hello (with its boot report): the row turns to "agent up"
    harness.startAgent(PI.name, canReadKmsg ? ['--kmsg', '/dev/kmsg'] : []);
    await piRow.getByText('agent up').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('table.boots tbody tr').last().getAttribute('data-node')).toBe(PI.name);
    const steps = await piRow.locator('ol.steps li').allTextContents();
    // (this machine's own kernel booted long before the "netboot" above: its milestones come first)
    const labels = steps.map((s) => s.replace(/ [\d.]+ (ms|s)$| \d+ (min|h|d) .*$/, ''));
    expect(labels.indexOf(`tftp ${PI.serial}/start.elf`)).toBeLessThan(labels.indexOf(`tftp ${PI.serial}/cmdline.txt`));
    expect(steps).toContainEqual(expect.stringMatching(/^tftp 2a2b2c2d\/start\.elf \d+(\.\d+)? (ms|s)$/));
    expect(steps.at(-1)).toBe('agent hello');
    // seq 0 still in the ring now: it was there when the agent read it (other suites' taps may have pushed it out meanwhile)
    if (ringWholeAtStart && firstSeq() === 0) expect(labels).toContain('kernel-start');
    if (canWriteKmsg) expect(labels).toContain(PROBE);
  });

  it.skipIf(!canReadKmsg)(
    "the node page shows the kernel log its agent sent, and the boot's milestones in its timeline (skipped: /dev/kmsg not readable)",
    async () => {
      await waitFor('kernel log event', async () =>
        (await harness.api<{ kind: string }[]>('GET', `/api/boot-events?node=${PI.name}`)).some((e) => e.kind === 'kernel-log') ? true : undefined,
      );
      const page = await signIn(VIEWER_TOKEN);
      await page.goto(`${harness.url}/nodes/${PI.name}`);
      const log = page.locator('pre.kmsg');
      await log.waitFor();
      expect(await log.textContent()).toMatch(/^\[\s+\d+\.\d{6}\] /m);
      if (expectMilestone) await page.locator('ol.timeline li.k-init-milestone').first().waitFor();
      await page.locator('ol.timeline li.k-agent-hello').first().waitFor();
    },
  );
});
