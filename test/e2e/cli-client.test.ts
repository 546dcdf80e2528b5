/**
 * The README's promises with real processes: `picluster submit -- echo hello` prints hello;
 * the TS client's submit()/result() and map(); the CLI's tables and exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, JobFailedError } from '../../client/cluster.ts';
import { BIN, ClusterHarness } from './helpers/cluster-processes.ts';

const run = promisify(execFile);
const harness = new ClusterHarness();

beforeAll(async () => {
  await harness.startMaster();
  harness.startAgent('c1');
  await harness.waitForNodes(['c1']);
}, 60_000);
afterAll(() => harness.stop(), 30_000);

const cli = (args: string[]) =>
  run(process.execPath, [BIN, ...args], { env: { ...process.env, PICLUSTER_URL: harness.url, PICLUSTER_DATA_DIR: harness.dataDir }, timeout: 60_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('CLI', () => {
  it('submit -- echo hello prints hello and exits 0', { timeout: 60_000 }, async () => {
    const r = await cli(['submit', '--', 'echo', 'hello']);
    expect(r).toMatchObject({ code: 0, stdout: 'hello\n' });
  });

  it("submit exits with the job's exit code and says why", { timeout: 60_000 }, async () => {
    const r = await cli(['submit', '--retries', '0', '--', 'sh', '-c', 'echo oops >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('oops');
    expect(r.stderr).toMatch(/job \d+ failed: exit code 3/);
  });

  it('nodes, jobs and job print tables and details; bad usage exits 2', { timeout: 60_000 }, async () => {
    const nodes = await cli(['nodes']);
    expect(nodes.stdout).toMatch(/^NAME\s+STATE/);
    expect(nodes.stdout).toMatch(/c1\s+(online|busy)/);
    const detached = await cli(['submit', '--detach', '--group', 'g7', '--', 'true']);
    const id = Number(detached.stdout.trim());
    expect(id).toBeGreaterThan(0);
    const jobs = await cli(['jobs', '--group', 'g7']);
    expect(jobs.stdout).toContain(`${id} `);
    expect((await cli(['job', String(id), '--json'])).stdout).toContain(`"id": ${id}`);
    expect((await cli(['cancel', 'abc'])).code).toBe(2);
    expect((await cli(['submit'])).code).toBe(2);
    expect((await cli(['job', '999999'])).stderr).toContain('JOB_NOT_FOUND');
  });

  it('a second master on a port in use exits 1 naming the port, not idling without one', { timeout: 60_000 }, async () => {
    const port = new URL(harness.url).port;
    const dir = mkdtempSync(join(tmpdir(), 'picluster-second-'));
    try {
      const r = await run(process.execPath, [BIN, 'master', '--port', port, '--data-dir', dir], {
        env: { ...process.env, PICLUSTER_HTTP_HOST: '127.0.0.1', PICLUSTER_INVENTORY: join(dir, 'none.yaml'), PICLUSTER_LOG_LEVEL: 'warn' },
        timeout: 50_000,
      }).catch((e) => e as { code: number; stderr: string });
      expect((r as { code: number }).code).toBe(1);
      expect((r as { stderr: string }).stderr).toContain(`LISTEN_FAILED: http.port 127.0.0.1:${port} is in use`);
      expect((r as { stderr: string }).stderr).not.toContain('escaped every handler');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says clearly when the master cannot be reached', { timeout: 30_000 }, async () => {
    const r = await run(process.execPath, [BIN, 'nodes', '--url', 'http://127.0.0.1:9'], { env: process.env }).catch(
      (e) => e as { code: number; stderr: string },
    );
    expect((r as { code: number }).code).toBe(3);
    expect((r as { stderr: string }).stderr).toContain('cannot reach the master');
  });
});

describe('TS client', () => {
  it('submit() returns a job whose result() resolves; map() runs a function over many args', { timeout: 60_000 }, async () => {
    const cluster = new Cluster({ url: harness.url, token: harness.token() });
    const job = await cluster.submit({ argv: ['sh', '-c', 'echo "$PICLUSTER_NODE"'] });
    expect(await job.result()).toMatchObject({ state: 'succeeded', stdout: 'c1\n', node: 'c1', exitCode: 0 });
    expect(
      await cluster.map(
        (a: number, b: number) => ({ sum: a + b }),
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      ),
    ).toEqual([{ sum: 3 }, { sum: 7 }, { sum: 11 }]);
    const async = await cluster.submit({ fn: async (x: number) => x * 2, args: [21] });
    expect(await async.value()).toBe(42);
    const bad = await cluster.submit({
      fn: () => {
        throw new Error('boom');
      },
      retries: 0,
    });
    await expect(bad.value()).rejects.toBeInstanceOf(JobFailedError);
    expect(await bad.result()).toMatchObject({ state: 'failed', error: expect.stringContaining('boom') });
  });
});
