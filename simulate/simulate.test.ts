/**
 * The simulator against one real master (startMaster: SQLite, fastify, ws gateways, UI) at a
 * small size: 200 virtual nodes register, heartbeat with health, run jobs to completion, and a
 * browser channel sees them all. `npm run bench:scale` runs the big sizes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../common/config.ts';
import { silentLogger } from '../common/logger.ts';
import { startMaster, type Master } from '../dispatcher/master.ts';
import { Fleet } from './fleet.ts';

const SECRET = 'simulate-test-secret-0123456789';
const NODES = 200;
let dir: string;
let master: Master;
let fleet: Fleet;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-sim-'));
  const config = loadConfig({
    overrides: {
      dataDir: dir,
      'http.host': '127.0.0.1',
      'http.port': 0,
      'inventory.path': join(dir, 'no-inventory.yaml'),
      'log.level': 'silent',
      'cluster.secret': SECRET,
      // 1 s, the default: at 200 ms a loaded 2-core machine stalls the fleet past 3 heartbeats and the master rightly declares nodes lost
      'scheduler.heartbeatMs': 1000,
    },
  });
  master = await startMaster(config, { log: silentLogger() });
  fleet = new Fleet({ url: master.url, clusterSecret: SECRET, nodes: NODES, jobMs: 20, spreadLoopback: true });
  await fleet.start();
});

afterAll(async () => {
  fleet?.stop();
  await master?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('picluster simulate', () => {
  it('registers every virtual node, and their heartbeats carry health within the protocol bounds', async () => {
    expect(fleet.stats()).toMatchObject({ nodes: NODES, welcomed: NODES, refused: 0 });
    await expect
      .poll(() => master.dispatcher.listNodes().filter((n) => n.state === 'online' && n.health?.temperatureC !== undefined).length, { timeout: 10_000 })
      .toBe(NODES);
    const n = master.dispatcher.getNode('sim-7');
    expect(n).toMatchObject({ connected: true, arch: 'arm64', mac: '02:5c:00:00:00:07', ip: '127.20.0.7' });
    expect(n.health).toMatchObject({ memTotalMb: 4096, cpuFreqMhz: expect.any(Number), uptimeS: expect.any(Number) });
  });

  it('runs jobs to completion on the virtual nodes (results committed and acked)', async () => {
    const jobs = await master.dispatcher.submit(
      Array.from({ length: 400 }, (_, i) => ({ spec: { kind: 'exec' as const, argv: i % 2 ? ['sleep', '0.01'] : ['true'] } })),
    );
    await expect.poll(async () => (await master.dispatcher.jobCounts()).succeeded, { timeout: 20_000 }).toBe(400);
    await expect.poll(() => fleet.stats().acked, { timeout: 5_000 }).toBe(400);
    const used = new Set(await Promise.all(jobs.map(async (j) => (await master.dispatcher.getJob(j.id)).node)));
    expect(used.size).toBeGreaterThan(NODES / 2);
  });

  it('a browser on /ui gets a snapshot with every virtual node', async () => {
    const ws = new WebSocket(`${master.url.replace('http', 'ws')}/ui?token=${master.adminToken}`);
    const first = await new Promise<{ type: string; nodes: unknown[] }>((resolve, reject) => {
      ws.once('message', (raw) => resolve(JSON.parse(String(raw)) as { type: string; nodes: unknown[] }));
      ws.once('error', reject);
    });
    ws.close();
    expect(first.type).toBe('snapshot');
    expect(first.nodes).toHaveLength(NODES);
  });
});
