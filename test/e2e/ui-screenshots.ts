/**
 * Regenerates docs/screenshots/*.png from a demo run: a master and four agents as processes,
 * a mix of jobs (succeeding, failing, a function job, a long one), then the dashboard, nodes,
 * node page, jobs and manage pages captured in Debian's chromium.
 *
 *   node --import tsx test/e2e/ui-screenshots.ts
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ClusterHarness, waitFor } from './helpers/cluster-processes.ts';

const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
mkdirSync(OUT, { recursive: true });

const harness = new ClusterHarness({ PICLUSTER_SCHEDULER__HEARTBEAT_MS: '1000', PICLUSTER_SCHEDULER__RETRY_BACKOFF_MS: '0' });
try {
  await harness.startMaster();
  const names = ['pi-01', 'pi-02', 'pi-03', 'pi-04'];
  for (const n of names) harness.startAgent(n);
  await harness.waitForNodes(names);
  await harness.api('PATCH', '/api/nodes/pi-01', { labels: { rack: 'a', model: 'pi4' } });
  const jobs: { id: number }[] = [];
  for (let i = 0; i < 24; i++)
    jobs.push(
      await harness.api<{ id: number }>('POST', '/api/jobs', {
        name: `render-frame-${i}`,
        argv: ['sh', '-c', `echo frame ${i}; sleep 0.${i % 5}`],
        group: i % 2 ? 'render' : 'encode',
        retries: 0,
      }),
    );
  for (let i = 0; i < 3; i++)
    jobs.push(await harness.api<{ id: number }>('POST', '/api/jobs', { name: `flaky-${i}`, argv: ['sh', '-c', 'echo oops >&2; exit 3'], retries: 0 }));
  jobs.push(await harness.api<{ id: number }>('POST', '/api/jobs', { name: 'square', source: 'export default (n) => n * n;', args: [12] }));
  await waitFor(
    'demo jobs done',
    async () => {
      const c = await harness.api<Record<string, number>>('GET', '/api/jobs/status');
      return (c.succeeded ?? 0) + (c.failed ?? 0) >= jobs.length;
    },
    60_000,
  );
  await harness.api('POST', '/api/jobs', { name: 'long-simulation', argv: ['sleep', '600'], requirements: { node: 'pi-02' } });
  await harness.api('POST', '/api/jobs', { name: 'batch-train', argv: ['sleep', '600'], requirements: { node: 'pi-02' } });

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
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
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' })).newPage();
  await page.goto(harness.url + '/');
  await page.getByLabel('Token').fill(harness.token());
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.l-live').waitFor();
  await page.locator('.uplot').first().waitFor();
  await page.screenshot({ path: `${OUT}dashboard.png` });
  await page.getByRole('link', { name: 'Nodes', exact: true }).click();
  await page.locator('tr[data-node="pi-04"]').waitFor();
  await page.screenshot({ path: `${OUT}nodes.png` });
  await page.goto(harness.url + '/nodes/pi-02');
  await page.getByRole('table', { name: 'Running jobs' }).waitFor();
  await page.getByRole('table', { name: 'Recent jobs' }).waitFor();
  await page.screenshot({ path: `${OUT}node.png`, fullPage: true });
  await page.goto(harness.url + '/jobs');
  await page.getByRole('table', { name: 'Jobs' }).waitFor();
  await page.locator('details.submit > summary').click();
  await page.screenshot({ path: `${OUT}jobs.png` });
  await page.goto(harness.url + '/manage');
  await page.getByRole('table', { name: 'Manage nodes' }).waitFor();
  for (const n of ['pi-03', 'pi-04']) await page.getByLabel(`Select ${n}`).check();
  await page.screenshot({ path: `${OUT}manage.png`, fullPage: true });
  await browser.close();
} finally {
  await harness.stop();
}
