/**
 * Item 4 of issue 10, on a real filesystem: a small tmpfs this test mounts (and unmounts) as the
 * data directory. Below limits.minFreeDiskBytes submissions get 507 with a message, reads keep
 * working, a disk-low alert is raised; with the disk completely full an agent disconnect does not
 * crash the master, and a master starts on the full disk; when space returns it carries on, and
 * every job committed before is still there. Skips (saying why) where tmpfs cannot be mounted.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.ts';
import { silentLogger } from '../../common/logger.ts';
import { deriveNodeToken } from '../../common/tokens.ts';
import { startMaster, type Master } from '../../dispatcher/master.ts';
import { helloFrame, peer } from '../../fuzz/live-master.ts';

/**
 * Whether this process may mount a tmpfs, probed at collection by mounting one and unmounting it
 * at once: the test's own mount is made in beforeAll, so a run that only collects files
 * (`vitest list`) leaves no mount behind.
 */
function probeTmpfs(): string {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-diskfull-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    return '';
  } catch (e) {
    return `cannot mount a tmpfs here (${(e as Error).message.split('\n')[0]}); needs root`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const why = probeTmpfs();
let mnt = '';
let mounted = false;

const dataDir = () => join(mnt, 'data');
const filler = (name: string) => join(mnt, name);

/** Writes `name` until only `leaveBytes` are free (or the disk is full: ENOSPC). */
function fill(name: string, leaveBytes: number): void {
  const fd = openSync(filler(name), 'a');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) {
      const { bavail, bsize } = execStatfs();
      const free = bavail * bsize;
      if (free <= leaveBytes) break;
      writeSync(fd, chunk, 0, Math.min(chunk.length, Math.max(4096, free - leaveBytes)));
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}
function execStatfs(): { bavail: number; bsize: number } {
  const s = statfsSync(mnt);
  return { bavail: Number(s.bavail), bsize: Number(s.bsize) };
}

const config = () =>
  loadConfig({
    overrides: {
      dataDir: dataDir(),
      'http.host': '127.0.0.1',
      'http.port': 0,
      'inventory.path': join(mnt, 'no-inventory.yaml'),
      'log.level': 'silent',
      'limits.minFreeDiskBytes': 4 * 1024 * 1024,
      'limits.diskCheckMs': 20,
    },
  });

let master: Master | undefined;
afterAll(async () => {
  await master?.close().catch(() => {});
  if (mounted) execFileSync('umount', ['-l', mnt]);
  if (mnt) rmSync(mnt, { recursive: true, force: true });
});

describe.skipIf(why !== '')(`disk full on a tmpfs${why ? ` (skipped: ${why})` : ''}`, () => {
  beforeAll(async () => {
    mnt = mkdtempSync(join(tmpdir(), 'picluster-diskfull-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt], { stdio: 'pipe' });
    mounted = true;
    master = await startMaster(config(), { log: silentLogger() });
  });

  const openAlerts = async () => ((await api('GET', '/api/alerts?open=true')).json.alerts as { kind: string }[]).map((a) => a.kind);
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${master!.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${master!.adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> & { jobs?: unknown[]; total?: number } };
  };

  it('is a state: 507 for submissions, reads work, alert; survives a full disk and a restart on it; resumes; nothing committed lost', async () => {
    for (let i = 0; i < 5; i++) expect((await api('POST', '/api/jobs', { argv: ['echo', String(i)] })).status).toBe(201);
    const agent = await peer(`${master!.url.replace('http', 'ws')}/agent`);
    agent.send(helloFrame('n1', { token: deriveNodeToken(master!.clusterSecret, 'n1') }));
    expect(await agent.next()).toMatchObject({ type: 'welcome' });

    // Below the reserve: refused with a message, reads fine, alert raised.
    fill('a', 2 * 1024 * 1024);
    // Wait on the watch's state, not on submissions: one accepted before the watch looked is a
    // committed job (the disk still had room) and would change the count below.
    await expect.poll(openAlerts, { timeout: 10_000 }).toContain('disk-low');
    expect((await api('POST', '/api/jobs', { argv: ['x'] })).status).toBe(507);
    const refused = await api('POST', '/api/jobs', { argv: ['x'] });
    expect(refused.json).toMatchObject({ code: 'STORAGE_FULL', message: expect.stringContaining('free some space') });
    expect((await api('GET', '/api/jobs')).json.total).toBe(5);
    expect(await openAlerts()).toContain('disk-low');

    // Completely full: an agent disconnect (store writes) must not end the master.
    fill('b', 0);
    await agent.close();
    await expect.poll(() => master!.dispatcher.getNode('n1').connected).toBe(false);
    // (Here the store usually refuses the disconnect's writes: they are kept, see pendingStoreWrites below.)
    expect((await fetch(`${master!.url}/health`)).status).toBe(200);
    expect((await api('GET', '/api/jobs')).json.total).toBe(5);

    // Restart on the full disk.
    await master!.close();
    master = await startMaster(config(), { log: silentLogger() });
    expect((await api('GET', '/api/jobs')).json.total).toBe(5);
    expect((await api('POST', '/api/jobs', { argv: ['x'] })).status).toBe(507);

    // Space returns: it carries on.
    rmSync(filler('a'));
    rmSync(filler('b'));
    await expect.poll(async () => (await api('POST', '/api/jobs', { argv: ['after'] })).status, { timeout: 10_000 }).toBe(201);
    await expect.poll(() => master!.dispatcher.pendingStoreWrites, { timeout: 10_000 }).toBe(0);
    expect((await api('GET', '/api/jobs')).json.total).toBeGreaterThanOrEqual(6);
    expect(await openAlerts()).not.toContain('disk-low');
  });
});
