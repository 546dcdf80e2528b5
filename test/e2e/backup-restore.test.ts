/**
 * `picluster backup` of a running master under write load is one consistent snapshot;
 * `picluster restore` refuses a running master, and after it the master serves the same jobs,
 * attempts and nodes. File modes of the data dir are fixed at start.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ClusterHarness, tempDir, waitFor } from './helpers/cluster-processes.ts';
import { checkDatabase, dumpTables } from '../../dispatcher/store/table-dump.ts';

const run = promisify(execFile);
const harness = new ClusterHarness();
afterAll(() => harness.stop(), 30_000);

const cli = (args: string[]) =>
  run(process.execPath, [BIN, ...args], { env: { ...process.env, PICLUSTER_URL: harness.url, PICLUSTER_DATA_DIR: harness.dataDir }, timeout: 120_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
const mode = (p: string) => statSync(p).mode & 0o777;
type Counts = Record<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>;

describe('backup and restore with real processes', () => {
  it('backs up under write load, refuses to restore onto a running master, restores identically', { timeout: 400_000 }, async () => {
    chmodSync(harness.dataDir, 0o755);
    await harness.startMaster(120_000);
    expect(mode(harness.dataDir)).toBe(0o700);
    for (const f of ['picluster.db', 'picluster.db-wal', 'cluster-secret', 'admin-token']) expect(mode(join(harness.dataDir, f)), f).toBe(0o600);
    harness.startAgent('b1');
    await harness.waitForNodes(['b1'], /online|busy/, 120_000);
    const batch = (n: number) => Array.from({ length: n }, () => ({ argv: ['true'], group: 'bk' }));
    await harness.api('POST', '/api/jobs', batch(100));
    await waitFor('100 jobs done', async () => (await harness.api<Counts>('GET', '/api/jobs/status')).succeeded === 100, 120_000);

    // Write load: batches submitted back to back while the backup runs in its own process.
    let acked = 100;
    let stop = false;
    const load = (async () => {
      for (let i = 0; i < 150 && !stop; i++) acked += ((await harness.api<unknown[]>('POST', '/api/jobs', batch(20))) as unknown[]).length;
    })();
    await waitFor('load running', () => acked >= 200);
    const ackedBefore = acked;
    const file = join(tempDir('picluster-bk-'), 'live.db');
    const b = await cli(['backup', file]);
    const ackedAfter = acked;
    stop = true;
    await load;
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/backup: \d+ jobs/);
    expect(mode(file)).toBe(0o600);
    expect(checkDatabase(file)).toEqual({ integrity: 'ok', foreignKeyViolations: 0 });
    const snap = dumpTables(file);
    const ids = (snap.jobs as { id: number }[]).map((j) => j.id);
    // One snapshot: ids 1..n without a hole, every job acknowledged before it began, none after it ended.
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    expect(ids.length).toBeGreaterThanOrEqual(ackedBefore);
    expect(ids.length).toBeLessThanOrEqual(ackedAfter + 20);
    expect(snap.picluster_backup).toEqual(expect.arrayContaining([{ key: 'secret:admin-token', value: harness.token() }]));

    const refused = await cli(['restore', file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/a master \(pid \d+\) is running on .*: stop it first/);

    const counts = await harness.api<Counts>('GET', '/api/jobs/status');
    expect(Object.values(counts).reduce((a, b) => a + b)).toBe(acked);
    await harness.agents.get('b1')!.kill();
    await harness.master!.kill();
    const live = dumpTables(join(harness.dataDir, 'picluster.db'));
    const offline = join(tempDir('picluster-bk-'), 'offline.db');
    expect((await cli(['backup', offline])).code).toBe(0);
    chmodSync(join(harness.dataDir, 'admin-token'), 0o644);
    const token = harness.token();

    // Restore the first (mid-load) backup, then the offline one: the master serves exactly it.
    const r1 = await cli(['restore', file]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(dumpTables(join(harness.dataDir, 'picluster.db')).jobs).toEqual(snap.jobs);
    const r2 = await cli(['restore', offline]);
    expect(r2.stderr).toContain('secrets restored: cluster-secret, admin-token');
    const restored = dumpTables(join(harness.dataDir, 'picluster.db'));
    for (const t of ['jobs', 'attempts', 'nodes', 'node_events', 'meta']) expect(restored[t], t).toEqual(live[t]);
    expect(restored.picluster_backup).toBeUndefined();
    await harness.startMaster(120_000);
    expect(mode(join(harness.dataDir, 'admin-token'))).toBe(0o600);
    expect(harness.token()).toBe(token);
    const after = await harness.api<Counts>('GET', '/api/jobs/status');
    expect(Object.values(after).reduce((a, b) => a + b)).toBe(acked);
    expect(after.succeeded).toBe((live.jobs as { state: string }[]).filter((j) => j.state === 'succeeded').length);

    // picluster prune: every finished job (0 days) goes, through the master; counted in metrics.
    const p = await cli(['prune', '--older-than-days', '0', '--json', '--token', token]);
    expect(p.code, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({ jobs: after.succeeded + after.failed + after.cancelled });
    // Attempts that were running at the kill may be requeued meanwhile: queued + running is what stays.
    const left = await harness.api<Counts>('GET', '/api/jobs/status');
    expect(left).toMatchObject({ succeeded: 0, failed: 0, cancelled: 0 });
    expect(left.queued + left.running).toBe(after.queued + after.running);
    const metrics = await (await fetch(`${harness.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toContain(`picluster_pruned_total{kind="jobs"} ${after.succeeded + after.failed + after.cancelled}`);
    expect((await cli(['prune', '--older-than-days', 'soon'])).code).toBe(2);
  });
});
