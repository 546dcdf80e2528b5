/**
 * The whole product under emulation (issue 11): machines with no disk netboot picluster's own
 * image from picluster's own netboot beside a home router, join, run work, crash, get
 * power-cycled and rescheduled. Topology and processes: cluster-lab.ts.
 *
 *  - x86-64 (`-M pc`, e1000 with Debian's iPXE ROM): proxy OFFER → iPXE script over HTTP →
 *    amd64 vmlinuz + initramfs.img over HTTP → runtime over HTTP
 *  - arm64 UEFI (`-M virt` + Debian `qemu-efi-aarch64`): proxy OFFER → TFTP grubnetaa64.efi →
 *    `<mac>/grub.cfg` → kernel8.img + initramfs8 over TFTP → runtime over HTTP
 *  - `-M raspi3b` + the 3B+ DTB: qemu has no Pi boot ROM, so it starts from -kernel/-initrd
 *    (the runtime, package layer and ICU data preloaded as more initramfs: qemu's dwc2 moves tens
 *    of KB/s), but its kernel command line is the per-node cmdline.txt fetched from picluster's
 *    TFTP (plus picluster.watchdog=0: qemu's raspi model resets the guest the moment bcm2835_wdt
 *    is armed). This is the image e2e's Pi too: what is the Pi's own (board from the DTB, the
 *    preloaded layers, full ICU for Node jobs, idle RAM) is checked here, once
 *
 * Each guest has a `qemu` power driver (QMP) in the inventory. On failure the serial logs, the
 * timelines and the master log are kept under test/e2e/out/ (the path is printed).
 * `npm run e2e:cluster`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { silentLogger } from '../../common/logger.ts';
import { createPowerDriver } from '../../dispatcher/power/driver.ts';
import { DEFAULT_CACHE_DIR } from '../../image/build/build.ts';
import { encodeCpio } from '../../image/build/cpio.ts';
import { NODE_VERSION } from '../../image/build/inputs.ts';
import type { ArchManifest } from '../../image/build/manifest.ts';
import { ClusterLab, MASTER_IP, type GuestSpec, type LabGuest } from './cluster-lab.ts';
import { waitFor } from './helpers/cluster-processes.ts';
import { DIST, ensureImage, FIRST_BOOT_MILESTONES, GERMAN_MONTH, ICU_KEEP } from './image-harness.ts';
import { netnsUnavailable, which } from './netboot-dhcp-netns.ts';

const IPXE_ROM = '/usr/lib/ipxe/qemu/efi-e1000.rom';
const AARCH64_FW = '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd';
const skipReason =
  netnsUnavailable() ??
  (which('qemu-system-x86_64') ? undefined : 'qemu-system-x86_64 is not installed (Debian package qemu-system-x86)') ??
  (which('qemu-system-aarch64') ? undefined : 'qemu-system-aarch64 is not installed (Debian package qemu-system-arm)') ??
  (which('dnsmasq') ? undefined : 'dnsmasq is not installed (Debian package dnsmasq)') ??
  (which('curl') ? undefined : 'curl is not installed') ??
  (existsSync(IPXE_ROM) ? undefined : `${IPXE_ROM} is missing (Debian package ipxe-qemu)`) ??
  (existsSync(AARCH64_FW) ? undefined : `${AARCH64_FW} is missing (Debian package qemu-efi-aarch64)`) ??
  (existsSync('/dev/net/tun') ? undefined : '/dev/net/tun is missing (tap devices)');

// scheduler.heartbeatMs; lost after 3 missed. 2 s lost a raspi3b (4 vCPUs on one host thread) while the
// others booted beside it: 5 s keeps a busy but live TCG guest from looking dead (3 s and 4 s still lost guests on this machine at load 20)
const HB = 5000;
const BOOT_MS = 420_000; // all three booting at once under TCG on 2 shared cores
const PI_SERIAL = '3b0e0001';
const TCG = ['-accel', 'tcg,thread=single', '-nodefaults', '-display', 'none', '-monitor', 'none'];

const GUESTS: readonly GuestSpec[] = [
  {
    name: 'x86',
    mac: '52:54:00:40:00:01',
    bin: 'qemu-system-x86_64',
    args: ['-machine', 'pc', ...TCG, '-m', '512', '-smp', '1', '-serial', 'stdio', '-boot', 'order=n,reboot-timeout=5000'],
    nic: (id, mac) => `e1000,netdev=${id},mac=${mac},romfile=${IPXE_ROM}`,
  },
  {
    name: 'arm64',
    mac: '52:54:00:40:00:02',
    bin: 'qemu-system-aarch64',
    args: ['-machine', 'virt', '-cpu', 'cortex-a53', ...TCG, '-m', '768', '-smp', '1', '-serial', 'stdio', '-bios', AARCH64_FW],
    // romfile= : no iPXE ROM, so EDK2's own PXE client does the boot
    nic: (id, mac) => `virtio-net-pci,netdev=${id},mac=${mac},romfile=`,
  },
  {
    name: 'pi3',
    mac: 'b8:27:eb:40:00:03',
    bin: 'qemu-system-aarch64',
    args: ['-machine', 'raspi3b', ...TCG, '-serial', 'null', '-serial', 'stdio', '-dtb', join(DIST, 'pi', 'bcm2837-rpi-3-b-plus.dtb')],
    nic: (id, mac) => `usb-net,netdev=${id},mac=${mac}`,
  },
];
const NAMES = GUESTS.map((g) => g.name);

function masterConfig(lab: ClusterLab): string {
  const inventory = join(lab.dir, 'nodes.yaml');
  const model: Record<string, string> = { x86: 'x86-64', arm64: 'arm64', pi3: 'pi3b+' };
  writeFileSync(
    inventory,
    'nodes:\n' +
      GUESTS.map(
        (g) =>
          `  - name: ${g.name}\n    mac: '${g.mac}'\n    model: ${model[g.name]}\n${g.name === 'pi3' ? `    serial: '${PI_SERIAL}'\n` : ''}` +
          // QMP answers from qemu's main loop, which a busy TCG vCPU thread starves: 5 s (the default) timed out
          `    power: { driver: qemu, qmp: 'unix:${lab.guests.get(g.name)!.qmpPath}', timeoutMs: 20000 }\n`,
      ).join(''),
  );
  return [
    `dataDir: ${lab.dataDir}`,
    'http: { host: 0.0.0.0, port: 8080 }',
    `inventory: { path: ${inventory} }`,
    'log: { level: info }',
    `scheduler: { heartbeatMs: ${HB}, missedHeartbeats: 3, restartGraceMs: 60000, defaultRetries: 10, retryBackoffMs: 0 }`,
    'recovery: { graceMs: 500, rebootTimeoutMs: 2000, bootTimeoutMs: 400000, breakerFraction: 0.9, poisonAfterNodeLosses: 5 }',
    'power: { staggerMs: 0, maxConcurrent: 3 }',
    `netboot: { enabled: true, interface: ${lab.bridge}, serverAddress: ${MASTER_IP}, mode: proxy, clients: known, tftpRoot: ${join(DIST, 'pi')}, httpRoot: ${DIST} }`,
    '',
  ].join('\n');
}

interface BootEv {
  kind: string;
  at: number;
  outcome: string;
  node?: string;
  detail?: Record<string, unknown>;
}
interface NodeV {
  name: string;
  state: string;
  connected: boolean;
  running: number;
  bootId?: string;
  imageVersion?: string;
  lastSeenAt?: number;
  identity?: { runtimes?: { node?: string } };
  health?: { memTotalMb?: number; memAvailableMb?: number };
}
type Counts = Record<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>;

/** A timeline as "kind file" steps in time order (files only for transfers). */
function steps(events: readonly BootEv[]): string[] {
  return [...events]
    .sort((a, b) => a.at - b.at)
    .map((e) => {
      const file = e.detail?.file ?? e.detail?.path;
      const step = e.detail?.step;
      return [e.kind, e.outcome, typeof file === 'string' ? file : typeof step === 'string' ? step : ''].join(' ').trim();
    });
}

/**
 * What each kind of node must show between qemu start and the agent hello. The master stamps
 * what it sees (DHCP, TFTP, HTTP, the hello); /init's milestones carry the guest's clock, set
 * from an RTC with 1 s resolution, so a milestone can sort up to a second before the boot file
 * that preceded it: each clock's steps are checked in order on their own, and across the two
 * only what a second cannot blur (the agent starts seconds before its hello under TCG).
 */
const EXPECTED: Record<string, readonly RegExp[]> = {
  x86: [/^dhcp-discover answered/, /^http-fetch .*ipxe/, /^http-fetch .*vmlinuz/, /^http-fetch .*initramfs\.img/],
  arm64: [
    /^dhcp-discover answered/,
    /^tftp-transfer complete grubnetaa64\.efi/,
    /^tftp-transfer complete .*grub\.cfg/,
    /^tftp-transfer complete .*kernel8\.img/,
    /^tftp-transfer complete .*initramfs8/,
  ],
  pi3: [/^tftp-transfer complete .*cmdline\.txt/],
};
const GUEST_STEPS = [/^init-milestone .*kernel-start/, /^init-milestone .*dhcp-lease/, /^init-milestone .*runtime-verified/, /^init-milestone .*agent-started/];
function expectInOrder(name: string, tl: readonly string[], steps: readonly RegExp[]): void {
  let i = 0;
  for (const re of steps) {
    while (i < tl.length && !re.test(tl[i]!)) i++;
    expect(i < tl.length, `${name}: no ${re} in order in\n${tl.join('\n')}`).toBe(true);
    i++;
  }
}

function expectTimeline(name: string, tl: readonly string[]): void {
  const guest = (s: string) => s.startsWith('init-milestone') || s.startsWith('kernel-log');
  expectInOrder(
    name,
    tl.filter((s) => !guest(s)),
    [...EXPECTED[name]!, /^agent-hello/],
  );
  expectInOrder(
    name,
    tl.filter((s) => s.startsWith('init-milestone')),
    GUEST_STEPS,
  );
  expectInOrder(name, tl, [/^init-milestone .*agent-started/, /^agent-hello/]);
}

describe.skipIf(skipReason !== undefined)(`cluster under emulation${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  const lab = new ClusterLab();
  const manifests: Partial<Record<'arm64' | 'amd64', ArchManifest>> = {};
  const timelines: Record<string, unknown> = {};
  const bootS: Record<string, number> = {};
  let failed = false;
  let piInitrd = '';
  const startedAt = Date.now();
  const guest = (n: string): LabGuest => lab.guests.get(n)!;
  const node = (n: string) => lab.api<NodeV>('GET', `/api/nodes/${n}`);
  const events = (n: string) => lab.api<BootEv[]>('GET', `/api/boot-events?node=${n}&limit=1000`);
  const fail = () => onTestFailed(() => void (failed = true));

  /** pi3's kernel command line: its cmdline.txt over picluster's TFTP, as the firmware would fetch it. */
  function startPi(): void {
    const cmdline = lab.inMasterNs('curl', '-s', '--max-time', '30', `tftp://${MASTER_IP}/${PI_SERIAL}/cmdline.txt`).trim();
    expect(cmdline).toContain('picluster.name=pi3');
    // (icu_keep: the full ICU data is let go 3 s after its last Node job, so the release is seen at once)
    // (prefetch=0: its four vCPUs share one host thread, so /init's background page-in of node would
    // not overlap but add ~8 s to every guest's boot on this 2-core machine)
    lab.startGuest(guest('pi3'), [
      '-kernel',
      join(DIST, 'pi', 'kernel8.img'),
      '-initrd',
      piInitrd,
      '-append',
      `${cmdline} picluster.watchdog=0 picluster.prefetch=0 ${ICU_KEEP}`,
    ]);
  }

  beforeAll(async () => {
    try {
      await setupLab();
    } catch (e) {
      failed = true;
      throw e;
    }
  }, 1_800_000);

  async function setupLab(): Promise<void> {
    manifests.arm64 = await ensureImage('arm64');
    manifests.amd64 = await ensureImage('amd64');
    // what `initramfs runtime8,initramfs8 followkernel` makes the firmware load, plus the package
    // layer and the full ICU data the same way (each a cpio holding its squashfs)
    piInitrd = join(lab.dir, 'pi-initrd');
    const asCpio = (file: string) =>
      encodeCpio([{ type: 'file', path: file, mode: 0o644, data: readFileSync(join(DIST, 'arm64', file)) }], {
        mtime: 0,
      });
    writeFileSync(
      piInitrd,
      Buffer.concat([
        readFileSync(join(DIST, 'pi', 'runtime8')),
        asCpio('packages.squashfs'),
        asCpio('icu.squashfs'),
        readFileSync(join(DIST, 'pi', 'initramfs8')),
      ]),
    );
    await lab.setup();
    for (const g of GUESTS) lab.addGuest(g);
    await lab.startMaster(masterConfig(lab));
  }

  type Attempt = { id: number; node: string; state: string; startedAt: number; endedAt?: number; reason?: string; exitCode?: number | null; signal?: string };
  type JobFull = { id: number; name?: string; state: string; attempts: number; attemptList: Attempt[] };
  async function explainJobs(): Promise<{ id: number; name?: string; state: string; attempts: string[] }[]> {
    const out = [];
    for (const id of jobIds) {
      const j = await lab.api<JobFull>('GET', `/api/jobs/${id}`);
      if (j.state === 'succeeded' && j.attemptList.length <= 1) continue;
      const at = (t?: number) => (t === undefined ? '-' : new Date(t).toISOString().slice(11, 23));
      const attempts = j.attemptList.map(
        (a) =>
          `#${a.id} ${a.node} ${a.state} ${at(a.startedAt)}..${at(a.endedAt)}${a.reason ? ` (${a.reason})` : ''}${a.exitCode != null ? ` exit ${a.exitCode}` : ''}${a.signal ? ` ${a.signal}` : ''}`,
      );
      out.push({ id, ...(j.name ? { name: j.name } : {}), state: j.state, attempts });
    }
    return out;
  }

  afterAll(async () => {
    for (const n of NAMES) timelines[n] = await events(n).then(steps, (e: Error) => timelines[n] ?? `unavailable: ${e.message}`);
    if (failed) {
      // every job that did not succeed at its first attempt, with each attempt's node, state and reason
      const jobs = await explainJobs().catch((e: Error) => `unavailable: ${e.message}`);
      timelines['jobs (not succeeded at the first attempt)'] = jobs;
      if (typeof jobs !== 'string')
        for (const j of jobs.filter((x) => x.state !== 'succeeded')) process.stdout.write(`cluster e2e: job ${JSON.stringify(j)}\n`);
      process.stdout.write(`cluster e2e: artifacts kept in ${lab.writeArtifacts(timelines)}\n`);
    }
    const nsNames = [lab.masterNs, lab.routerNs];
    await lab.destroy();
    expect(lab.leftovers(), 'processes left behind').toEqual([]);
    expect(lab.namespacesLeft(nsNames), 'namespaces left behind').toEqual([]);
    process.stdout.write(`cluster e2e: ${JSON.stringify({ bootToAgentS: bootS, runS: Math.round((Date.now() - startedAt) / 1000) })}\n`);
  }, 120_000);

  it('all three netboot through proxy DHCP beside the router and register, each with a complete timeline', { timeout: BOOT_MS + 60_000 }, async () => {
    fail();
    lab.startGuest(guest('x86'));
    lab.startGuest(guest('arm64'));
    startPi();
    await Promise.all(
      NAMES.map(async (n) => {
        const v = await waitFor(`${n} registered`, async () => ((await node(n)).connected ? node(n) : undefined), BOOT_MS, 500);
        bootS[n] = Math.round((Date.now() - guest(n).startedAt) / 100) / 10;
        expect(v.bootId).toBeTruthy();
      }),
    );
    for (const n of NAMES) {
      // the boot report (milestones) follows the hello
      const tl = await waitFor(
        `${n} boot report`,
        async () => {
          const t = steps(await events(n));
          return t.some((s) => s.includes('agent-started')) ? t : undefined;
        },
        60_000,
        500,
      );
      timelines[n] = tl;
      expectTimeline(n, tl);
      // a first boot reports every /init milestone, in order (agent-started again if agent-loop
      // restarted the agent before its first welcome), and the kernel log with them
      expect([...new Set(tl.filter((x) => x.startsWith('init-milestone')).map((x) => x.split(' ').at(-1)))], n).toEqual(FIRST_BOOT_MILESTONES);
      expect(
        tl.some((x) => x.startsWith('kernel-log')),
        `${n}: a kernel-log event`,
      ).toBe(true);
      // the image this test built, its agent on the pinned Node LTS (identity.runtimes from its hello)
      const v = await node(n);
      expect(v.imageVersion, n).toBe(manifests[n === 'x86' ? 'amd64' : 'arm64']!.imageVersion);
      expect(v.identity?.runtimes?.node, n).toBe(NODE_VERSION);
    }
    // every guest took its address from the router (dnsmasq logs to stderr), never from picluster
    const routerLog = lab.router!.stderr;
    for (const g of GUESTS) expect(routerLog).toMatch(new RegExp(`DHCPACK\\(\\S+\\) 10\\.213\\.40\\.1\\d\\d ${g.mac}`));
  });

  const JOBS = 60;
  /** Every job this file submits (the store check at the end), and the 60 unpinned ones. */
  const jobIds: number[] = [];
  const sixty: number[] = [];

  /** A job pinned to one node, to its end (`wait` long-polls). */
  async function runOn(n: string, spec: Record<string, unknown>): Promise<{ id: number; state: string; value?: unknown; stdout: string }> {
    const [job] = await lab.api<{ id: number }[]>('POST', '/api/jobs', [{ ...spec, requirements: { node: n } }]);
    jobIds.push(job!.id);
    const done = await waitFor(
      `job ${job!.id} on ${n}`,
      async () => {
        const v = await lab.api<{ state: string; result?: { value?: unknown } }>('GET', `/api/jobs/${job!.id}/wait?timeoutMs=20000`);
        return v.state === 'succeeded' || v.state === 'failed' ? v : undefined;
      },
      120_000,
      100,
    );
    const { stdout } = await lab.api<{ stdout: string }>('GET', `/api/jobs/${job!.id}/output`);
    return { id: job!.id, state: done.state, value: done.result?.value, stdout };
  }

  it('pi3 (raspi3b, 3B+ DTB, usb-net): the board from its DTB, the preloaded layers, full ICU for Node jobs, its idle RAM', { timeout: 300_000 }, async () => {
    fail();
    const pi = guest('pi3');
    expect(pi.lines.some((l) => /picluster-init: board pi3/.test(l))).toBe(true);
    expect(pi.lines.some((l) => /picluster-init: runtime preloaded/.test(l))).toBe(true);
    const exec = await runOn('pi3', { name: 'pi3-exec', argv: ['/bin/sh', '-c', 'echo "hello from $(uname -m) $(cat /etc/picluster/arch)"'] });
    expect(exec).toMatchObject({ state: 'succeeded', stdout: 'hello from aarch64 arm64\n' });
    // a Node job has the full ICU data (the preloaded layer); the agent's own node has root + en
    const beforeFn = pi.lines.length;
    const fn = await runOn('pi3', {
      name: 'pi3-function',
      source: `export default (a, b) => ({ sum: a + b, arch: process.arch, month: ${GERMAN_MONTH} })`,
      args: [2, 3],
    });
    expect(fn).toMatchObject({ state: 'succeeded', value: { sum: 5, arch: 'arm64', month: 'Januar' } });
    // let go icu_keep (3 s) after the job (no other Node job runs on pi3 meanwhile): unmounted, and
    // the preloaded file deleted, its RAM given back
    const finished = new RegExp(`"jobId":${fn.id}[,}].*"msg":"job finished"`);
    await waitFor(
      'pi3 lets the full ICU data go after its function job',
      async () => {
        const lines = pi.lines.slice(beforeFn);
        const end = lines.findIndex((l) => finished.test(l));
        return end >= 0 && lines.slice(end + 1).some((l) => /picluster icu-data: full ICU data dropped/.test(l));
      },
      60_000,
      200,
    );
    const icu = await runOn('pi3', {
      name: 'pi3-icu',
      argv: [
        '/bin/sh',
        '-c',
        `echo "icu-mounted=$(grep -c ' /run/picluster/icu ' /proc/mounts) icu-file=$(ls /run/picluster/icu.squashfs 2>/dev/null | wc -l)"; ` +
          `/opt/picluster/libexec/node -p "'agent-month=' + ${GERMAN_MONTH}"`,
      ],
    });
    expect(icu.stdout).toContain('icu-mounted=0 icu-file=0');
    expect(icu.stdout).toContain('agent-month=January');
    // idle RAM (MemTotal − MemAvailable) from a heartbeat sent after those jobs
    const after = Date.now();
    const v = await waitFor(
      'a pi3 heartbeat with health after its jobs',
      async () => {
        const n = await node('pi3');
        return n.health?.memTotalMb !== undefined && n.health.memAvailableMb !== undefined && (n.lastSeenAt ?? 0) > after ? n : undefined;
      },
      60_000,
      500,
    );
    const summary = {
      machine: 'raspi3b',
      registeredS: bootS.pi3,
      idleRamMb: Math.round(v.health!.memTotalMb! - v.health!.memAvailableMb!),
      memTotalMb: v.health!.memTotalMb,
      imageVersion: v.imageVersion,
      runtime: 'preloaded initramfs (runtime8 + the package layer and ICU data as cpio), cmdline.txt from picluster TFTP',
    };
    expect(summary.memTotalMb).toBeGreaterThan(256);
    expect(summary.idleRamMb).toBeGreaterThan(0);
    process.stdout.write(`image e2e ${JSON.stringify(summary)}\n`);
    mkdirSync(DEFAULT_CACHE_DIR, { recursive: true });
    writeFileSync(join(DEFAULT_CACHE_DIR, 'e2e-raspi3b.json'), JSON.stringify(summary, null, 2) + '\n');
  });

  it(
    '60 jobs; the master is SIGKILLed and restarted mid-run; a frozen guest is lost within 3 heartbeats, its jobs finish elsewhere, the ladder power-cycles it, it netboots again and takes work',
    { timeout: 600_000 },
    async () => {
      fail();
      const first = await node('x86');
      // exec and function jobs, each long enough that the freeze and the master kill land mid-run
      const specs = Array.from({ length: JOBS }, (_, i) =>
        i % 3 === 0
          ? {
              name: `fn-${i}`,
              source: 'export default async (i) => { await new Promise((r) => setTimeout(r, 1500)); return { i, arch: process.arch }; }',
              args: [i],
            }
          : { name: `exec-${i}`, argv: ['sh', '-c', 'sleep 3; echo "$PICLUSTER_JOB_ID"'] },
      );
      sixty.push(...(await lab.api<{ id: number }[]>('POST', '/api/jobs', specs)).map((j) => j.id));
      expect(sixty).toHaveLength(JOBS);
      jobIds.push(...sixty);

      // kill -9 the master while jobs are queued and running, and start it again on the same data
      // (the pi3 jobs above count too)
      await waitFor('10 jobs done', async () => (await lab.api<Counts>('GET', '/api/jobs/status')).succeeded >= jobIds.length - JOBS + 10, 300_000, 200);
      const mid = await lab.api<Counts>('GET', '/api/jobs/status');
      expect(mid.queued + mid.running).toBeGreaterThan(0);
      await lab.killMaster();
      await lab.startMaster(masterConfig(lab));

      // Freeze x86 while the master holds an attempt of it that cannot end first: an exec job
      // (3 s) it started under a second ago. QMP answers from qemu's main loop, which a busy TCG
      // vCPU can starve for seconds, so the job may still end before the pause lands: then thaw
      // (a pause shorter than 3 heartbeats goes unnoticed) and try again.
      type Running = { jobs: { id: number; name: string; startedAt?: number }[] };
      const runningOnX86 = async () => (await lab.api<Running>('GET', '/api/jobs?state=running&node=x86')).jobs;
      let frozenAt = 0;
      let held: number[] = [];
      for (let tries = 1; held.length === 0 && tries <= 5; tries++) {
        // reconnected to the new master (not still `suspect`, whose attempts it restored) and running a fresh exec job
        await waitFor(
          'x86 on the new master, running an exec job it started just now',
          async () => {
            const v = await node('x86');
            if (!v.connected || v.state !== 'busy') return false;
            return (await runningOnX86()).some((j) => j.name.startsWith('exec-') && j.startedAt !== undefined && Date.now() - j.startedAt < 1000);
          },
          120_000,
          50,
        );
        frozenAt = Date.now();
        await guest('x86').qmp('stop');
        held = (await runningOnX86()).map((j) => j.id);
        if (held.length === 0) await guest('x86').qmp('cont');
      }
      expect(held.length, 'x86 frozen with a job the master saw running').toBeGreaterThan(0);
      await waitFor('x86 lost', async () => (await node('x86')).state === 'lost', 3 * HB + 5000, 100);
      const lostAfterMs = Date.now() - frozenAt;
      // lost at most 3 heartbeats after its last one (which came before the freeze), plus a liveness tick and the poll
      expect(lostAfterMs).toBeLessThanOrEqual(3 * HB + HB / 2 + 500);

      // the recovery ladder: the agent cannot answer, so it power-cycles through the qemu driver
      type Op = { action: string; actor: string; state: string; detail?: string; verified?: boolean };
      const cycle = await waitFor(
        'the recovery power-cycle of x86',
        async () =>
          (await lab.api<Op[]>('GET', '/api/power/operations?node=x86')).find((o) => o.action === 'cycle' && o.actor === 'recovery' && o.state === 'succeeded'),
        60_000,
        200,
      );
      expect(cycle.detail).toContain('query-status reads on');

      const back = await waitFor(
        'x86 netbooted again with a new boot id',
        async () => {
          const v = await node('x86');
          return v.connected && v.bootId && v.bootId !== first.bootId ? v : undefined;
        },
        BOOT_MS,
        500,
      );
      bootS['x86 (after the power-cycle)'] = Math.round((Date.now() - frozenAt) / 100) / 10;
      expect(back.state).toMatch(/online|busy/);
      const all = await waitFor(
        `all ${JOBS} jobs ended`,
        async () => {
          const c = await lab.api<Counts>('GET', '/api/jobs/status');
          return c.queued + c.running === 0 ? c : undefined;
        },
        300_000,
        500,
      );
      expect(all).toMatchObject({ succeeded: jobIds.length, failed: 0, cancelled: 0 });
      // the jobs frozen on x86 finished elsewhere (one whose result was already on the wire when
      // the pause landed may have finished on x86; at least one cannot have)
      type Full = { attemptList: { node: string; state: string }[] };
      const heldJobs = await Promise.all(held.map((id) => lab.api<Full>('GET', `/api/jobs/${id}`)));
      const movedAway = heldJobs.filter(
        (j) => j.attemptList.some((a) => a.node === 'x86' && a.state !== 'succeeded') && j.attemptList.some((a) => a.node !== 'x86' && a.state === 'succeeded'),
      );
      expect(movedAway.length, `jobs ${held.join(', ')} frozen on x86: some finished elsewhere`).toBeGreaterThan(0);

      // it takes work again: jobs pinned to it
      for (const i of [1, 2, 3]) {
        expect(await runOn('x86', { name: `pinned-${i}`, argv: ['uname', '-m'] })).toMatchObject({ state: 'succeeded', stdout: 'x86_64\n' });
      }

      // a second timeline: DHCP → HTTP files → milestones → hello again, after the freeze
      const second = await waitFor(
        'x86 second boot report',
        async () => {
          const evs = (await events('x86')).filter((e) => e.at >= frozenAt);
          return steps(evs).some((x) => x.includes('agent-started')) ? evs : undefined;
        },
        60_000,
        500,
      );
      timelines['x86 (second boot)'] = steps(second);
      expectTimeline('x86', steps(second));
      const hellos = (await events('x86')).filter((e) => e.kind === 'agent-hello');
      expect(new Set(hellos.map((e) => e.detail?.bootId)).size).toBeGreaterThanOrEqual(2);
    },
  );

  it('the qemu power driver against the booted guests: off, on (and the cycle above), status read back', { timeout: BOOT_MS }, async () => {
    fail();
    type Op = { action: string; state: string; verified: boolean; detail?: string };
    const driverOf = (n: string) =>
      createPowerDriver({ driver: 'qemu', qmp: `unix:${guest(n).qmpPath}`, timeoutMs: 20_000 }, { log: silentLogger(), node: { name: n } });
    for (const n of ['arm64', 'pi3']) {
      const d = driverOf(n);
      expect(await d.status!()).toBe('on');
      const off = await lab.api<Op>('POST', `/api/nodes/${n}/power-off`);
      expect(off).toMatchObject({ action: 'off', state: 'succeeded', verified: true });
      expect(off.detail).toContain('query-status reads off');
      expect(await d.status!()).toBe('off');
      expect(await guest(n).qmp('query-status')).toMatchObject({ status: 'paused' });
      const on = await lab.api<Op>('POST', `/api/nodes/${n}/power-on`);
      expect(on).toMatchObject({ action: 'on', state: 'succeeded', verified: true });
      expect(await d.status!()).toBe('on');
      // the same boot resumes: the agent is back on its link
      await waitFor(
        `${n} online again`,
        async () => {
          const v = await node(n);
          return v.connected && /online|busy/.test(v.state);
        },
        60_000,
        200,
      );
    }
    // cycle: the recovery ladder's power-cycle of the frozen x86 (above) went through this driver
    // (system_reset, `query-status reads on`); x86 netbooted again and runs, as status reads back
    expect(await driverOf('x86').status!()).toBe('on');
  });

  it('every job succeeded exactly once (the store)', async () => {
    fail();
    for (const n of NAMES) timelines[n] = steps(await events(n));
    await lab.master!.stop();
    const db = new Database(join(lab.dataDir, 'picluster.db'), { readonly: true });
    try {
      const perJob = db
        .prepare("SELECT j.id, j.state, (SELECT COUNT(*) FROM attempts a WHERE a.job_id = j.id AND a.state = 'succeeded') AS ok FROM jobs j")
        .all() as { id: number; state: string; ok: number }[];
      expect(perJob.map((j) => j.id).sort((a, b) => a - b)).toEqual([...jobIds].sort((a, b) => a - b));
      expect(perJob.filter((j) => j.state !== 'succeeded' || j.ok !== 1)).toEqual([]);
      // the jobs x86 lost with its freeze finished elsewhere
      const lostThere = db
        .prepare(
          "SELECT a.job_id AS id, (SELECT node FROM attempts b WHERE b.job_id = a.job_id AND b.state = 'succeeded') AS doneOn FROM attempts a WHERE a.node = 'x86' AND a.state != 'succeeded'",
        )
        .all() as { id: number; doneOn: string }[];
      expect(lostThere.filter((j) => j.doneOn === 'x86')).toEqual([]);
      // at least one attempt was lost with the freeze (the loop above froze x86 mid-job), and each
      // job the master saw running on x86 at the freeze succeeded once, on x86 only if its result
      // was already on the wire when the pause landed
      expect(lostThere.length).toBeGreaterThan(0);
      expect(lostThere.every((j) => j.doneOn && j.doneOn !== 'x86')).toBe(true);
      // every guest took some of the 60 unpinned jobs (the pinned ones would prove nothing)
      const byNode = db
        .prepare(`SELECT node, COUNT(*) AS n FROM attempts WHERE state = 'succeeded' AND job_id IN (${sixty.map(() => '?').join(',')}) GROUP BY node`)
        .all(...sixty) as { node: string; n: number }[];
      process.stdout.write(
        `cluster e2e: succeeded attempts of the 60 per node ${JSON.stringify(byNode)}; ${lostThere.length} lost with x86 and rerun elsewhere\n`,
      );
      expect(byNode.map((r) => r.node).sort()).toEqual([...NAMES].sort());
    } finally {
      db.close();
    }
  });
});
