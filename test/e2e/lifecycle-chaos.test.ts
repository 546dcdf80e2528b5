/**
 * Node lifecycle with real processes: master + 4 agents whose "power" is a script that starts
 * and kills agent processes (a `command` power driver). One agent hangs (SIGSTOP), one is
 * killed mid-job: their jobs finish elsewhere, and the recovery ladder power-cycles both
 * back (new boot ids). Then the master is killed -9 in the middle of a cycle: at its next
 * start the journal turns the node's power back on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveNodeToken } from '../../common/tokens.ts';
import { BIN, ClusterHarness, freePort, tempDir, waitFor } from './helpers/cluster-processes.ts';

const SECRET = 'lifecycle-chaos-secret-0123456789';
const NODES = ['d1', 'd2', 'd3', 'd4'];
const SCRIPT = fileURLToPath(new URL('./fixtures/agent-power.sh', import.meta.url));
const powerDir = tempDir('picluster-power-');
const port = await freePort();
const inventory = join(powerDir, 'nodes.yaml');
const env = { POWER_DIR: powerDir, PICLUSTER_BIN: BIN, NODE_BIN: process.execPath, DISPATCHER: `ws://127.0.0.1:${port}/agent` };
writeFileSync(
  inventory,
  'nodes:\n' +
    NODES.map(
      (n, i) =>
        `  - name: ${n}\n    mac: 02:00:00:00:00:0${i + 1}\n    model: other\n    power:\n      driver: command\n      on: [${SCRIPT}, 'on', '{node}']\n      off: [${SCRIPT}, 'off', '{node}']\n      status: [${SCRIPT}, status, '{node}']\n      onRegex: '^on$'\n      offRegex: '^off$'\n      offMs: 1500\n      env: ${JSON.stringify(env)}\n`,
    ).join(''),
);
for (const n of NODES) writeFileSync(join(powerDir, `${n}.token`), deriveNodeToken(SECRET, n));
// Process agents share this host's MAC; each reports the MAC its inventory entry says (agent-power.sh).
NODES.forEach((n, i) => writeFileSync(join(powerDir, `${n}.mac`), `02:00:00:00:00:0${i + 1}`));

const harness = new ClusterHarness({
  PICLUSTER_CLUSTER_SECRET: SECRET,
  PICLUSTER_INVENTORY: inventory,
  PICLUSTER_SCHEDULER__HEARTBEAT_MS: '300',
  PICLUSTER_SCHEDULER__RESTART_GRACE_MS: '30000',
  PICLUSTER_SCHEDULER__RETRY_BACKOFF_MS: '0',
  PICLUSTER_SCHEDULER__DEFAULT_RETRIES: '10',
  PICLUSTER_RECOVERY__GRACE_MS: '300',
  PICLUSTER_RECOVERY__BOOT_TIMEOUT_MS: '20000',
  PICLUSTER_RECOVERY__BREAKER_FRACTION: '0.75',
  PICLUSTER_POWER__STAGGER_MS: '0',
});
harness.port = port;

const pid = (n: string): number => Number(readFileSync(join(powerDir, `${n}.pid`), 'utf8'));
interface NodeView {
  name: string;
  imageVersion?: string;
  state: string;
  connected: boolean;
  running: number;
  bootId?: string;
  boots: number;
}
const node = (n: string) => harness.api<NodeView>('GET', `/api/nodes/${n}`);

beforeAll(async () => {
  await harness.startMaster();
  for (const n of NODES) await harness.api('POST', `/api/nodes/${n}/power-on`);
  await harness.waitForNodes(NODES);
}, 90_000);

/** PIDs of every process whose command line mentions this test's power dir (agents it started). */
function ownProcesses(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(powerDir)) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

afterAll(async () => {
  // agents started by the power script, including one a detached reboot may have started late
  await harness.waitForNodes(NODES).catch(() => undefined);
  for (const p of ownProcesses()) {
    try {
      process.kill(p, 'SIGCONT');
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const n of NODES) {
    if (!existsSync(join(powerDir, `${n}.pid`))) continue;
    try {
      process.kill(pid(n), 'SIGCONT');
      process.kill(pid(n), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await harness.stop();
}, 30_000);

describe('node lifecycle chaos', () => {
  it('hung and killed agents: jobs finish elsewhere, the ladder power-cycles both back with new boot ids', { timeout: 180_000 }, async () => {
    const before = Object.fromEntries(await Promise.all(NODES.map(async (n) => [n, (await node(n)).bootId] as const)));
    const jobs = await harness.api<{ id: number }[]>(
      'POST',
      '/api/jobs',
      Array.from({ length: 40 }, (_, i) => ({ argv: ['sh', '-c', `sleep 0.${(i % 4) + 3}; echo ${i}`] })),
    );
    await waitFor('d1 and d2 busy', async () => (await node('d1')).running > 0 && (await node('d2')).running > 0);
    process.kill(pid('d1'), 'SIGSTOP'); // hung
    process.kill(pid('d2'), 'SIGKILL'); // crashed mid-job

    const all = await waitFor(
      'all 40 jobs ended',
      async () => {
        const c = await harness.api<Record<string, number>>('GET', '/api/jobs/status');
        return c.queued! + c.running! === 0 ? c : undefined;
      },
      120_000,
      200,
    );
    expect(all).toMatchObject({ succeeded: 40, failed: 0 });
    expect(jobs).toHaveLength(40);

    for (const n of ['d1', 'd2']) {
      const back = await waitFor(
        `${n} back after a power cycle`,
        async () => {
          const v = await node(n);
          return v.connected && v.bootId !== before[n] ? v : undefined;
        },
        90_000,
        200,
      );
      expect(back.state).toMatch(/online|busy/);
      const ops = await harness.api<{ action: string; actor: string; state: string }[]>('GET', `/api/power/operations?node=${n}`);
      expect(ops.some((o) => o.action === 'cycle' && o.actor === 'recovery' && o.state === 'succeeded')).toBe(true);
      const events = await harness.api<{ kind: string }[]>('GET', `/api/nodes/${n}/events`);
      expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(['recovery', 'power', 'recovered']));
    }
  });

  it('master kill -9 in the middle of a power cycle: the next master completes it from the journal', { timeout: 120_000 }, async () => {
    const before = (await node('d3')).bootId;
    // start a cycle (off → 1.5 s → on) and kill the master while the node is dark
    const cycle = harness.api('POST', '/api/nodes/d3/power-cycle').catch(() => 'master died');
    await waitFor(
      'd3 powered off',
      async () => {
        try {
          process.kill(pid('d3'), 0);
          return false;
        } catch {
          return true;
        }
      },
      20_000,
      20,
    );
    harness.master!.child.kill('SIGKILL');
    await harness.master!.exited;
    expect(await cycle).toBe('master died');
    await harness.startMaster();
    const back = await waitFor(
      'd3 powered back on and rejoined',
      async () => {
        const v = await node('d3');
        return v.connected && v.bootId !== before ? v : undefined;
      },
      60_000,
      200,
    );
    expect(back.connected).toBe(true);
    const ops = await harness.api<{ action: string; state: string; detail?: string }[]>('GET', '/api/power/operations?node=d3');
    expect(ops[0]).toMatchObject({ action: 'cycle', state: 'reconciled', detail: expect.stringContaining('powered back on') });
  });

  it(
    'rolling upgrade: drain → reboot → verify the image version → next batch; stops at the first node that comes back wrong',
    { timeout: 150_000 },
    async () => {
      const cli = (args: string[]) =>
        promisify(execFile)(process.execPath, [BIN, ...args], {
          env: { ...process.env, PICLUSTER_URL: harness.url, PICLUSTER_TOKEN: harness.token() },
          timeout: 120_000,
        }).then(
          (r) => ({ code: 0, ...r }),
          (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
        );
      await harness.waitForNodes(NODES);
      writeFileSync(join(powerDir, 'image-version'), 'v2\n');
      const ok = await cli(['rollout', '--batch', '2', '--image-version', 'v2', '--nodes', NODES.join(',')]);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('rollout complete');
      // On a loaded machine a 300 ms heartbeat can be missed and the ladder may cycle a node just after
      // the rollout let go of it: what the rollout promised is that every node is on v2 when it is up.
      for (const n of NODES) {
        const up = await waitFor(
          `${n} up on v2`,
          async () => {
            const v = await node(n);
            return v.connected && /online|busy/.test(v.state) ? v : undefined;
          },
          60_000,
          100,
        );
        expect(up.imageVersion).toBe('v2');
      }

      const bad = await cli(['rollout', '--batch', '1', '--image-version', 'v3', '--nodes', 'd1,d2', '--boot-timeout', '60']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('rollout stopped at d1: came back with image v2, expected v3');
      expect((await node('d1')).state).toBe('drained'); // left for a human
      expect((await node('d2')).imageVersion).toBe('v2'); // untouched
      await harness.api('POST', '/api/nodes/d1/undrain');
    },
  );
});
