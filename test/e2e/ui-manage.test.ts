/**
 * The Manage page, alerts and node-page lifecycle actions in a real browser (Debian's chromium
 * via playwright-core) against real processes: a master with netboot enrollment on (DHCP and
 * TFTP on unprivileged loopback ports) and two agents whose "reboot" command ends the agent
 * (the test starts it again with a new boot id, as a rebooted Pi would come back).
 * Pending nodes are real: the test sends a PXE DHCPDISCOVER from an unknown MAC.
 * Every wait is on a selector, an event or the API; nothing sleeps a fixed time.
 */
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { encodeDhcp } from '../../netboot/dhcp/codec.ts';
import { pxeRequest } from '../../netboot/dhcp/testing.ts';
import { writePlaceholderBootFiles } from './helpers/boot-files.ts';
import { ClusterHarness, freePort, tempDir, waitFor } from './helpers/cluster-processes.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const VIEWER_TOKEN = 'viewer-token-for-ui-manage-0123456789';

const root = tempDir('picluster-ui-manage-root-');
mkdirSync(join(root, 'pi'));
writePlaceholderBootFiles(root);
const dhcpPort = await freePort();
const harness = new ClusterHarness({
  PICLUSTER_VIEWER_TOKEN: VIEWER_TOKEN,
  PICLUSTER_SCHEDULER__HEARTBEAT_MS: '500',
  PICLUSTER_NETBOOT__ENABLED: 'true',
  PICLUSTER_NETBOOT__ENROLLMENT: 'true',
  PICLUSTER_NETBOOT__INTERFACE: 'lo',
  PICLUSTER_NETBOOT__SERVER_ADDRESS: '127.0.0.1',
  PICLUSTER_NETBOOT__TFTP_ROOT: join(root, 'pi'),
  PICLUSTER_NETBOOT__HTTP_ROOT: root,
  PICLUSTER_NETBOOT__TFTP__PORT: String(await freePort()),
  PICLUSTER_NETBOOT__DHCP__PORT: String(dhcpPort),
  PICLUSTER_NETBOOT__DHCP__CLIENT_PORT: String(await freePort()),
  PICLUSTER_NETBOOT__DHCP__PXE_PORT: String(await freePort()),
});
/** The agents' reboot: end the agent that runs it (its parent). */
const REBOOT = join(root, 'reboot.sh');
writeFileSync(REBOOT, '#!/bin/sh\nkill -TERM "$PPID"\n');
chmodSync(REBOOT, 0o755);
const AGENTS = ['m-a', 'm-b'];
const startAgent = (name: string, bootId?: string) => {
  // The agent reads its boot id from PICLUSTER_AGENT_BOOT_ID when set; the harness passes our env on.
  if (bootId) process.env.PICLUSTER_AGENT_BOOT_ID = bootId;
  else delete process.env.PICLUSTER_AGENT_BOOT_ID;
  try {
    return harness.startAgent(name, ['--reboot-command', REBOOT]);
  } finally {
    delete process.env.PICLUSTER_AGENT_BOOT_ID;
  }
};

let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

async function signIn(token: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  // Fail with the locator's name well before the test's own timeout.
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(harness.url + '/');
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.locator('.l-live').waitFor();
  return page;
}

/** A PXE client netboot does not know asks for an address: with enrollment on it becomes pending. */
async function discover(mac: string): Promise<string> {
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((res, rej) => sock.send(encodeDhcp(pxeRequest({ mac })), dhcpPort, '127.0.0.1', (e) => (e ? rej(e) : res())));
  } finally {
    sock.close();
  }
  const name = `pending-${mac.replace(/:/g, '')}`;
  await waitFor(
    `${name} pending`,
    async () => (await harness.api<{ name: string; state: string }[]>('GET', '/api/nodes')).some((n) => n.name === name && n.state === 'pending-approval'),
    15_000,
  );
  return name;
}

const confirm = (page: Page, label: string) =>
  page
    .getByRole('dialog')
    .getByRole('button', { name: `Yes, ${label.toLowerCase()}` })
    .click();

describe.skipIf(!haveChromium)('Manage page, alerts and node actions in chromium (master with enrollment + 2 agents)', () => {
  let admin: Page;

  beforeAll(async () => {
    await harness.startMaster();
    for (const a of AGENTS) startAgent(a);
    await harness.waitForNodes(AGENTS);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    admin = await signIn(harness.token());
  }, 90_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await harness.stop();
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('adds a node from the Manage page, shows the API refusing a bad power config, and the node reaches the node table', async () => {
    await admin.getByRole('link', { name: 'Manage', exact: true }).click();
    const form = admin.getByRole('form', { name: 'Add a node' });
    await form.getByLabel('Name').fill('rack2-07');
    await form.getByLabel('MAC').fill('DC-A6-32-00-00-07');
    await form.getByLabel('Serial').fill('10000007');
    await form.getByLabel('Model').fill('pi4');
    await form.getByLabel('Slots (empty: its CPUs)').fill('3');
    await form.getByLabel('Labels (key=value, one per line)').fill('rack=2\nrole=render');
    await form.getByLabel('Power (JSON with a driver; optional)').fill('{"driver": "no-such-driver"}');
    await form.getByRole('button', { name: 'Add node' }).click();
    await form
      .getByRole('alert')
      .getByText(/400 .*power/i)
      .waitFor();
    await form.getByLabel('Power (JSON with a driver; optional)').fill('{"driver": "manual"}');
    await form.getByRole('button', { name: 'Add node' }).click();
    await form.getByRole('status').getByRole('link', { name: 'rack2-07' }).waitFor();
    const node = await harness.api<{ mac: string; serial: string; model: string; slots: number; labels: Record<string, string>; state: string }>(
      'GET',
      '/api/nodes/rack2-07',
    );
    expect(node).toMatchObject({
      mac: 'dc:a6:32:00:00:07',
      serial: '10000007',
      model: 'pi4',
      slots: 3,
      labels: { rack: '2', role: 'render' },
      state: 'offline',
    });
    expect((await harness.api<{ power: { driver: string } | null }>('GET', '/api/nodes/rack2-07/power')).power?.driver).toBe('manual');
    // Live in the manage table, and in the node table.
    await admin.getByRole('table', { name: 'Manage nodes' }).locator('tr[data-node="rack2-07"]').waitFor();
    await admin.getByRole('link', { name: 'Nodes', exact: true }).click();
    await admin.locator('table.nodes tr[data-node="rack2-07"] [data-col="model"]').getByText('pi4').waitFor();
  });

  it('removes the added node with a bulk action; every browser drops it without a reload', async () => {
    await admin.goto(harness.url + '/manage');
    await admin.getByLabel('Select rack2-07').check();
    await admin.getByRole('group', { name: 'Bulk actions' }).getByRole('button', { name: 'Remove', exact: true }).click();
    await expect(admin.getByRole('dialog').textContent()).resolves.toContain('1 node(s): rack2-07');
    await confirm(admin, 'Remove');
    await admin.getByRole('table', { name: 'Manage nodes' }).locator('tr[data-node="rack2-07"]').waitFor({ state: 'detached' });
    await admin.getByRole('list', { name: 'Remove results' }).getByText('rack2-07: done').waitFor();
    await expect(harness.api('GET', '/api/nodes/rack2-07')).rejects.toThrow(/404/);
    await admin.getByRole('link', { name: 'Nodes', exact: true }).click();
    await admin.locator('tr[data-node="m-a"]').waitFor();
    expect(await admin.locator('tr[data-node="rack2-07"]').count()).toBe(0);
  });

  it('drains and undrains the selected agents with one confirmation each', async () => {
    await admin.goto(harness.url + '/manage');
    const table = admin.getByRole('table', { name: 'Manage nodes' });
    await admin.getByLabel('Select m-a').check();
    await admin.getByLabel('Select m-b').check();
    const bulk = admin.getByRole('group', { name: 'Bulk actions' });
    await bulk.getByRole('button', { name: 'Drain', exact: true }).click();
    await expect(admin.getByRole('dialog').textContent()).resolves.toContain('2 node(s): m-a, m-b');
    await confirm(admin, 'Drain');
    for (const n of AGENTS) await table.locator(`tr[data-node="${n}"] [data-col="state"]`).getByText('drained').waitFor();
    expect((await harness.api<{ name: string; state: string }[]>('GET', '/api/nodes')).filter((n) => AGENTS.includes(n.name)).map((n) => n.state)).toEqual([
      'drained',
      'drained',
    ]);
    await bulk.getByRole('button', { name: 'Undrain', exact: true }).click();
    await confirm(admin, 'Undrain');
    for (const n of AGENTS) await table.locator(`tr[data-node="${n}"] [data-col="state"]`).getByText('online').waitFor();
    await bulk.getByRole('button', { name: 'Maintenance on', exact: true }).click();
    await confirm(admin, 'Maintenance on');
    for (const n of AGENTS) await table.locator(`tr[data-node="${n}"] [data-col="state"]`).getByText('maintenance').waitFor();
    await bulk.getByRole('button', { name: 'Maintenance off', exact: true }).click();
    await confirm(admin, 'Maintenance off');
    for (const n of AGENTS) await table.locator(`tr[data-node="${n}"] [data-col="state"]`).getByText('online').waitFor();
    await admin.getByRole('button', { name: 'Clear selection' }).click();
  });

  it('approves one pending node (name, slots, labels) and rejects another', async () => {
    await admin.goto(harness.url + '/manage');
    const first = await discover('52:54:00:aa:00:01');
    const pendingTable = admin.getByRole('table', { name: 'Pending nodes' });
    await pendingTable.locator(`tr[data-pending="${first}"]`).waitFor();
    await admin.getByRole('button', { name: `Approve ${first}` }).click();
    const form = admin.getByRole('form', { name: `Approve ${first}` });
    await form.getByLabel('Node name').fill('x86-01');
    await form.getByLabel('Slots (empty: its CPUs)').fill('8');
    await form.getByLabel('Labels (key=value, one per line)').fill('arch=x86');
    await form.getByRole('button', { name: 'Approve node' }).click();
    await admin.locator(`tr[data-pending="${first}"]`).waitFor({ state: 'detached' });
    await admin.getByRole('table', { name: 'Manage nodes' }).locator('tr[data-node="x86-01"]').waitFor();
    const approved = await harness.api<{ mac: string; slots: number; labels: Record<string, string>; source: string }>('GET', '/api/nodes/x86-01');
    expect(approved).toMatchObject({ mac: '52:54:00:aa:00:01', slots: 8, labels: { arch: 'x86' }, source: 'netboot' });

    const second = await discover('52:54:00:aa:00:02');
    const row = pendingTable.locator(`tr[data-pending="${second}"]`);
    await row.waitFor();
    await row.getByRole('button', { name: 'Reject' }).click();
    await confirm(admin, 'Reject');
    await row.waitFor({ state: 'detached' });
    await expect(harness.api('GET', `/api/nodes/${second}`)).rejects.toThrow(/404/);
  });

  it('rolls a reboot over the selected agents: drain, reboot, new boot id, undrain, with progress', { timeout: 120_000 }, async () => {
    const before = await harness.api<{ name: string; bootId: string }[]>('GET', '/api/nodes');
    const bootOf = (list: { name: string; bootId: string }[], n: string) => list.find((x) => x.name === n)!.bootId;
    await admin.goto(harness.url + '/manage');
    for (const n of AGENTS) await admin.getByLabel(`Select ${n}`).check();
    await admin.getByRole('button', { name: 'Rolling reboot', exact: true }).click();
    await confirm(admin, 'Rolling reboot');
    const progress = admin.getByRole('list', { name: 'Rolling reboot progress' });
    await progress.waitFor();
    // One at a time (batch 1): each agent ends when told to reboot; it comes back with a new boot id.
    for (const [i, n] of AGENTS.entries()) {
      const proc = harness.agents.get(n)!;
      await proc.exited;
      if (i === 0) await expect(progress.locator(`li[data-node="${AGENTS[1]}"] .step`).textContent()).resolves.toBe('waiting');
      startAgent(n, `rebooted-${n}-${Date.now()}`);
      await progress
        .locator(`li[data-node="${n}"] .step`)
        .getByText('done', { exact: true })
        .waitFor({ timeout: 30_000 })
        .catch(async (e: Error) => {
          throw new Error(
            `${e.message}\nprogress: ${await progress.textContent()}\nmaster: ${harness.master!.output().slice(-3000)}\nagent: ${harness.agents.get(n)!.output().slice(-2000)}`,
          );
        });
    }
    await admin.getByRole('status').getByText('Rolling reboot complete: 2 node(s).').waitFor();
    const after = await harness.api<{ name: string; bootId: string; state: string }[]>('GET', '/api/nodes');
    for (const n of AGENTS) {
      expect(bootOf(after, n)).not.toBe(bootOf(before, n));
      expect(after.find((x) => x.name === n)!.state).toMatch(/online|busy/);
    }
  });

  it('node page: power actions without a driver show the 409, the power journal lists the reboot', async () => {
    await admin.goto(`${harness.url}/nodes/m-a`);
    await admin.getByRole('heading', { name: 'Power journal' }).waitFor();
    await admin.getByRole('region', { name: 'Power journal' }).getByText('No power driver configured', { exact: false }).waitFor();
    const journal = admin.getByRole('table', { name: 'Power journal' });
    await journal.locator('tbody tr').filter({ hasText: 'reboot' }).filter({ hasText: 'agent' }).first().waitFor();
    for (const label of ['Power cycle', 'Power off', 'Power on']) {
      await admin.getByRole('button', { name: label, exact: true }).click();
      await confirm(admin, label);
      await admin
        .locator('.confirm')
        .filter({ hasText: label })
        .getByRole('alert')
        .getByText(/409 POWER_NOT_CONFIGURED: node 'm-a' has no power driver configured/)
        .waitFor();
    }
    // Maintenance from the node page, then its opposite appears.
    await admin.getByRole('button', { name: 'Maintenance', exact: true }).click();
    await confirm(admin, 'Maintenance');
    await admin.getByRole('button', { name: 'End maintenance', exact: true }).click();
    await confirm(admin, 'End maintenance');
    await admin.getByRole('button', { name: 'Maintenance', exact: true }).waitFor();
    await admin.getByRole('button', { name: 'Identify', exact: true }).click();
    await confirm(admin, 'Identify');
    await admin.locator('.confirm').filter({ hasText: 'Identify' }).getByRole('status').getByText('Identify: done').waitFor();
  });

  it('the alerts page and the dashboard render the real /api/alerts shape', async () => {
    await admin.getByRole('link', { name: 'Alerts', exact: true }).click();
    await admin.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
    await admin.getByText('Circuit breaker: closed').waitFor();
    const { alerts } = await harness.api<{ breakerOpen: boolean; alerts: { kind: string; resolvedAt?: number }[] }>('GET', '/api/alerts');
    const open = alerts.filter((a) => a.resolvedAt === undefined);
    if (open.length) await admin.getByRole('table', { name: 'Alerts' }).locator(`tr[data-alert="${open[0]!.kind}"]`).first().waitFor();
    else await admin.getByText('No open alerts. All quiet.').waitFor();
    expect(await admin.locator('.banner.critical').count()).toBe(0);
    await admin.getByRole('link', { name: 'Dashboard', exact: true }).click();
    await admin.getByRole('heading', { name: /^Active alerts \(\d+\)$/ }).waitFor();
  });

  it('a viewer sees the Manage page without any action', async () => {
    await discover('52:54:00:aa:00:03');
    const viewer = await signIn(VIEWER_TOKEN);
    await viewer.getByRole('link', { name: 'Manage', exact: true }).click();
    await viewer.getByText('Signed in as a viewer').waitFor();
    await viewer.getByRole('table', { name: 'Pending nodes' }).locator('tr[data-pending="pending-525400aa0003"]').waitFor();
    for (const name of ['Add node', 'Approve', 'Reject', 'Drain', 'Undrain', 'Reboot', 'Remove', 'Maintenance on', 'Rolling reboot'])
      expect(await viewer.getByRole('button', { name, exact: true }).count()).toBe(0);
    expect(await viewer.getByRole('form', { name: 'Add a node' }).count()).toBe(0);
    expect(await viewer.getByRole('checkbox').count()).toBe(0);
    const r = await fetch(`${harness.url}/api/nodes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VIEWER_TOKEN}`, 'content-type': 'application/json' },
      body: '{"name":"nope"}',
    });
    expect(r.status).toBe(403);
  });
});
