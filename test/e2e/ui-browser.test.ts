/**
 * The web UI in a real browser (Debian's chromium driven by playwright-core) against real
 * processes: one master and two agents. Every wait is on a selector, an event or the API;
 * nothing sleeps a fixed time. Skips only when chromium is not installed.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ClusterHarness, waitFor } from './helpers/cluster-processes.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const VIEWER_TOKEN = 'viewer-token-for-ui-tests-0123456789';
const XSS = '<img src=x onerror=alert(1)>';

const harness = new ClusterHarness({ PICLUSTER_VIEWER_TOKEN: VIEWER_TOKEN, PICLUSTER_SCHEDULER__HEARTBEAT_MS: '500' });
let browser: Browser;
const contexts: BrowserContext[] = [];
/** Dialogs (alert/confirm) any page opened: the XSS test asserts there were none. */
const dialogs: string[] = [];
const pageErrors: string[] = [];

async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // launch() gives chromium a fresh temporary --user-data-dir of its own (and refuses one passed
  // in args); each test context below is a separate, clean browser profile on top of it.
  return chromium.launch({
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
}

async function signIn(token: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const ctx = await browser.newContext({ viewport });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(harness.url + '/');
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.locator('.l-live').waitFor();
  return page;
}

describe.skipIf(!haveChromium)('web UI in chromium (master + 2 agents as processes)', () => {
  let admin: Page;

  beforeAll(async () => {
    await harness.startMaster();
    harness.startAgent('ui-a');
    harness.startAgent('ui-b');
    await harness.waitForNodes(['ui-a', 'ui-b']);
    browser = await launch();
    admin = await signIn(harness.token());
  }, 90_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await harness.stop();
  }, 60_000);

  it('serves the page with a strict CSP and refuses a bad token', async () => {
    const r = await fetch(harness.url + '/');
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(await r.text()).not.toMatch(/<script>(?!<\/script>)|<style>/);
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(harness.url + '/');
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/401/);
  });

  it('lists the agents in the node table and sorts by a column', async () => {
    await admin.getByRole('link', { name: 'Nodes', exact: true }).click();
    await admin.locator('tr[data-node="ui-a"]').waitFor();
    await admin.locator('tr[data-node="ui-b"]').waitFor();
    const names = () => admin.locator('table.nodes tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-node')));
    expect(await names()).toEqual(['ui-a', 'ui-b']);
    const header = admin.getByRole('button', { name: /^Name/ });
    await header.click();
    await expect.poll(names).toEqual(['ui-b', 'ui-a']);
    await expect(admin.getByRole('columnheader', { name: /^Name/ })).toBeTruthy();
    expect(await admin.getByRole('columnheader', { name: /^Name/ }).getAttribute('aria-sort')).toBe('descending');
    // Another column: Busy, ascending.
    await admin.getByRole('button', { name: /^Busy/ }).click();
    expect(await admin.getByRole('columnheader', { name: /^Busy/ }).getAttribute('aria-sort')).toBe('ascending');
    // The filter narrows the table.
    await admin.getByLabel('Filter nodes').fill('ui-b');
    await expect.poll(names).toEqual(['ui-b']);
    await admin.getByLabel('Filter nodes').fill('');
  });

  it('submits a job from the form and shows it reach succeeded without a reload', async () => {
    await admin.getByRole('link', { name: 'Jobs', exact: true }).click();
    await admin.getByLabel('Command: program and arguments, one per line').fill('sh\n-c\necho from-the-form');
    await admin.getByLabel('Name (optional)').fill('form job');
    await admin.getByRole('button', { name: 'Submit', exact: true }).click();
    const link = admin.getByRole('status').getByRole('link', { name: /job #\d+/ });
    await link.waitFor();
    const id = Number(/#(\d+)/.exec((await link.textContent())!)![1]);
    const navigations: string[] = [];
    admin.on('framenavigated', (f) => navigations.push(f.url()));
    await admin.locator(`tr[data-job="${id}"] [data-col="state"]`).getByText('succeeded').waitFor({ timeout: 20_000 });
    expect(navigations.filter((u) => !u.includes('/jobs'))).toEqual([]);
    // The job page shows its output.
    await link.click();
    await admin.getByLabel('stdout').getByText('from-the-form').waitFor();
  });

  it('two browsers receive the same live update', async () => {
    const other = await signIn(harness.token());
    await admin.goto(harness.url + '/jobs');
    await other.goto(harness.url + '/jobs');
    await admin.locator('.l-live').waitFor();
    await other.locator('.l-live').waitFor();
    const job = await harness.api<{ id: number }>('POST', '/api/jobs', { argv: ['true'], name: 'seen-by-both' });
    for (const p of [admin, other]) await p.locator(`tr[data-job="${job.id}"] [data-col="state"]`).getByText('succeeded').waitFor({ timeout: 20_000 });
    await other.context().close();
  });

  it('kills a running job from the node page', async () => {
    const job = await harness.api<{ id: number }>('POST', '/api/jobs', { argv: ['sleep', '300'], retries: 0, requirements: { node: 'ui-a' } });
    await admin.goto(`${harness.url}/nodes/ui-a`);
    const row = admin.locator(`tr[data-job="${job.id}"]`);
    await row.waitFor({ timeout: 20_000 });
    await row.getByRole('button', { name: 'Kill' }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Yes, kill' }).click();
    await row.waitFor({ state: 'detached', timeout: 20_000 });
    const done = await harness.api<{ state: string; done: boolean }>('GET', `/api/jobs/${job.id}/wait?timeoutMs=20000`);
    expect(done).toMatchObject({ done: true, state: 'cancelled' });
  });

  it("shows the boot doctor's verdict on the node page", async () => {
    await admin.goto(`${harness.url}/nodes/ui-a`);
    const panel = admin.getByRole('region', { name: 'Boot doctor' });
    await panel.locator('.badge', { hasText: 'booted' }).waitFor({ timeout: 20_000 });
    await panel.getByText('No known failure matches the latest boot.').waitFor();
  });

  it('shows an action route that is not there yet as an error', async () => {
    await admin.goto(`${harness.url}/nodes/ui-b`);
    await admin.getByRole('button', { name: 'Identify' }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Yes, identify' }).click();
    // Either the lifecycle route exists (done) or its 404/409 is shown to the operator.
    await admin.locator('.confirm').filter({ hasText: 'Identify' }).locator('[role=alert], [role=status]').first().waitFor();
  });

  it('opens a shell on a node and runs a command', async () => {
    await admin.goto(`${harness.url}/nodes/ui-b`);
    await admin.getByRole('button', { name: 'Open shell' }).click();
    await admin.locator('.xterm-helper-textarea').waitFor();
    await admin.getByRole('status').getByText('open', { exact: true }).waitFor({ timeout: 20_000 });
    await admin.locator('.xterm-helper-textarea').focus();
    await admin.keyboard.type('echo $((6*7))\n');
    await admin.waitForFunction(() => /^42\s*$/m.test((document.querySelector('.xterm-rows') as HTMLElement | null)?.innerText ?? ''), null, {
      timeout: 20_000,
    });
    await admin.getByRole('button', { name: 'Close shell' }).click();
    // The session is recorded as node events (opened, closed) with who did it.
    await waitFor(
      'shell node events',
      async () => {
        const events = await harness.api<{ kind: string; message: string; actor: string }[]>('GET', '/api/nodes/ui-b/events');
        const shell = events.filter((e) => e.kind === 'shell');
        return shell.some((e) => /opened by admin/.test(e.message)) && shell.some((e) => /closed/.test(e.message));
      },
      20_000,
    );
  });

  it('renders a job argument containing HTML as text', async () => {
    await admin.goto(harness.url + '/jobs');
    await admin.getByLabel('Command: program and arguments, one per line').fill(`echo\n${XSS}`);
    await admin.getByRole('button', { name: 'Submit', exact: true }).click();
    const link = admin.getByRole('status').getByRole('link', { name: /job #\d+/ });
    await link.waitFor();
    const id = Number(/#(\d+)/.exec((await link.textContent())!)![1]);
    const row = admin.locator(`tr[data-job="${id}"]`);
    await row.getByText(`echo ${XSS}`).waitFor();
    await row.locator('[data-col="state"]').getByText('succeeded').waitFor({ timeout: 20_000 });
    await link.click();
    await admin.getByRole('listitem').getByText(XSS, { exact: true }).waitFor();
    await admin.getByLabel('stdout').getByText(XSS).waitFor();
    expect(await admin.locator('img[src="x"]').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('a viewer sees the cluster but no action buttons', async () => {
    const viewer = await signIn(VIEWER_TOKEN);
    await viewer.getByText('viewer', { exact: true }).waitFor();
    await viewer.goto(`${harness.url}/nodes/ui-a`);
    await viewer.getByRole('heading', { name: 'Identity' }).waitFor();
    for (const name of ['Reboot', 'Power cycle', 'Drain', 'Identify', 'Open shell', 'Save', 'Kill'])
      expect(await viewer.getByRole('button', { name, exact: true }).count()).toBe(0);
    await viewer.goto(`${harness.url}/jobs`);
    await viewer.getByRole('table', { name: 'Jobs' }).waitFor();
    expect(await viewer.getByRole('form', { name: 'Submit a job' }).count()).toBe(0);
    await viewer.getByRole('table', { name: 'Jobs' }).getByRole('link').first().click();
    await viewer.getByRole('heading', { name: 'Summary' }).waitFor();
    for (const name of ['Cancel job', 'Retry']) expect(await viewer.getByRole('button', { name }).count()).toBe(0);
    // And the API refuses them anyway, shell included.
    const r = await fetch(`${harness.url}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VIEWER_TOKEN}`, 'content-type': 'application/json' },
      body: '{"argv":["true"]}',
    });
    expect(r.status).toBe(403);
  });

  it('works on a phone-sized screen', async () => {
    const phone = await signIn(harness.token(), { width: 390, height: 844 });
    await phone.getByRole('link', { name: 'Nodes', exact: true }).click();
    await phone.locator('tr[data-node="ui-a"]').waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    expect(pageErrors).toEqual([]);
  });
});
