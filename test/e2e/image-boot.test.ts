/**
 * Boots the built image under qemu and proves a node joins a real master: registers with
 * the image version, runs an exec job (and one that drives node-pty's cross-built addon) and
 * a function job, reports memory; then python3 from the package layer runs an exec job
 * (`picluster submit -- python3 -c …`) and a Python function job submitted with clients/python.
 * The machines boot side by side (describe.concurrent), each with its own master, as the
 * cluster e2e boots its guests: on a 2-core box with no KVM that takes about half the time of
 * booting them one after another. Their registration times are those of a shared machine;
 * idle RAM is the guest's own and does not depend on it.
 *
 *  - arm64, `-M virt -cpu cortex-a53`, virtio-net: the full two-stage path (runtime over HTTP)
 *  - amd64, `qemu-system-x86_64`, virtio-net, an i6300esb watchdog: two-stage, like virt
 *
 * `-M raspi3b` (the 3B+ DTB, usb-net, the preloaded layers) boots once, in the cluster e2e
 * (cluster.test.ts), from the cmdline.txt picluster's TFTP serves: its Pi checks (board, the
 * exec, function and ICU jobs, idle RAM, written to e2e-raspi3b.json) are there.
 *
 * Serial output: set PICLUSTER_E2E_SERIAL=1 to see it. Timings and idle RAM are printed and
 * written to image/.cache/e2e-<machine>.json (image/README.md quotes them).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_DIR } from '../../image/build/build.ts';
import type { ArchManifest } from '../../image/build/manifest.ts';
import { NODE_VERSION } from '../../image/build/inputs.ts';
import {
  DIST,
  ensureImage,
  exerciseNode,
  FIRST_BOOT_MILESTONES,
  exercisePython,
  Guest,
  ICU_KEEP,
  haveTool,
  startBootServer,
  startTestMaster,
  type NodeExercise,
  type PythonExercise,
  type TestMaster,
} from './image-harness.ts';

const haveAarch64 = haveTool('qemu-system-aarch64');
const haveX86 = haveTool('qemu-system-x86_64');

function record(machine: string, r: NodeExercise, py: PythonExercise | undefined, extra: Record<string, unknown>): void {
  const summary = {
    machine,
    registeredS: Number(r.registeredS.toFixed(1)),
    idleRamMb: r.idleRamMb,
    memTotalMb: r.memTotalMb,
    imageVersion: r.node.imageVersion,
    python: py ? py.cli.stdout.trim() : 'not run here (the same arm64 bits as virt)',
    ...extra,
  };
  process.stdout.write(`image e2e ${JSON.stringify(summary)}\n`);
  mkdirSync(DEFAULT_CACHE_DIR, { recursive: true });
  writeFileSync(join(DEFAULT_CACHE_DIR, `e2e-${machine}.json`), JSON.stringify(summary, null, 2) + '\n');
}

function expectJoined(r: NodeExercise, manifest: ArchManifest, unameM: string, nodeArch: string): void {
  expect(r.node.imageVersion).toBe(manifest.imageVersion);
  // the agent runs on the pinned Node LTS (identity.runtimes.node from its hello)
  expect(r.node.identity?.runtimes?.node).toBe(NODE_VERSION);
  expect(r.exec.state).toBe('succeeded');
  expect(r.exec.stdout).toContain(`hello from ${unameM} ${manifest.arch}`);
  expect(r.pty.stdout).toContain('pty-42');
  expect(r.fn.state).toBe('succeeded');
  expect(r.fn.value).toMatchObject({ sum: 5, arch: nodeArch });
  // full ICU for Node jobs (fetched on demand); the agent's node has root + en only, and the full
  // data is no longer held once the last job has ended
  expect(r.fn.value).toMatchObject({ month: 'Januar' });
  expect(r.icu.stdout).toContain('agent-month=January');
  expect(r.icu.stdout).toContain('icu-mounted=0 icu-file=0');
  expect(r.memTotalMb).toBeGreaterThan(256);
  expect(r.idleRamMb).toBeGreaterThan(0);
  // the boot report: the kernel log and every /init milestone, in order (no gap before the hello)
  expect(r.kernelLog, r.kernelLogWhy).toBe(true);
  expect(r.milestones).toEqual(FIRST_BOOT_MILESTONES);
  expect(manifest.packages?.layer?.sizeBytes).toBeGreaterThan(0);
}

/** python3 from the package layer runs an exec job (the CLI) and a Python function job (clients/python). */
function expectPython(py: PythonExercise, unameM: string): void {
  expect(py.cli.code, py.cli.stderr).toBe(0);
  expect(JSON.parse(py.cli.stdout.trim())).toEqual({ python: '3.11', machine: unameM });
  if (py.fn.skipped) process.stdout.write(`image e2e: Python function job skipped: ${py.fn.skipped}\n`);
  else expect(py.fn.value ?? py.fn.error).toEqual({ sum: 5, machine: unameM, python: '3.11' });
}

describe.concurrent('the image boots under qemu, virt and x86 side by side', () => {
  const manifests: Partial<Record<'arm64' | 'amd64', ArchManifest>> = {};
  const guests = new Set<Guest>();
  const masters = new Set<TestMaster>();
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    // one build at a time (each is heavy); the boots then run side by side
    if (haveAarch64) manifests.arm64 = await ensureImage('arm64');
    if (haveX86) manifests.amd64 = await ensureImage('amd64');
  }, 1_800_000);

  afterAll(async () => {
    await Promise.all([...guests].map((g) => g.stop()));
    for (const close of closers) await close();
    await Promise.all([...masters].map((m) => m.close()));
  });

  async function master(): Promise<TestMaster> {
    const tm = await startTestMaster();
    masters.add(tm);
    return tm;
  }
  function boot(bin: string, args: string[]): Guest {
    const g = new Guest(bin, args);
    guests.add(g);
    return g;
  }
  async function done(g: Guest): Promise<void> {
    await g.stop();
    guests.delete(g);
  }

  it.skipIf(!haveAarch64)(
    "-M virt -cpu cortex-a53: fetches the runtime from the master's /boot/, registers, runs an exec and a function job",
    async () => {
      const manifest = manifests.arm64!;
      const tm = await master();
      const name = 'qemu-virt';
      // no picluster.runtime=: /init derives http://10.0.2.2:<master port>/boot/arm64/runtime.squashfs
      // from the dispatcher URL, and the master serves image/dist under /boot/
      const append = [
        'console=ttyAMA0',
        'loglevel=4',
        ICU_KEEP,
        `picluster.dispatcher=ws://10.0.2.2:${tm.master.port}/agent`,
        `picluster.name=${name}`,
        `picluster.token=${tm.tokenFor(name)}`,
      ].join(' ');
      const guest = boot('qemu-system-aarch64', [
        '-M',
        'virt',
        '-cpu',
        'cortex-a53',
        '-smp',
        '2',
        '-m',
        '1024',
        '-nographic',
        '-no-reboot',
        '-kernel',
        join(DIST, 'pi', 'kernel8.img'),
        '-initrd',
        join(DIST, 'pi', 'initramfs8'),
        '-append',
        append,
        '-netdev',
        'user,id=n0',
        '-device',
        'virtio-net-pci,netdev=n0',
      ]);
      await guest.waitForLine(/picluster-init: runtime mounted/, 240_000);
      const r = await exerciseNode(tm, guest, name, 240_000);
      expectJoined(r, manifest, 'aarch64', 'arm64');
      const py = await exercisePython(tm);
      expectPython(py, 'aarch64');
      record('virt', r, py, { runtime: 'http (master /boot/)' });
      await done(guest);
    },
    600_000,
  );

  it.skipIf(!haveX86)(
    'amd64 under qemu-system-x86_64: fetches the runtime over HTTP, registers, runs an exec and a function job',
    async () => {
      const manifest = manifests.amd64!;
      const tm = await master();
      const bootServer = await startBootServer(DIST);
      closers.push(() => bootServer.close());
      const name = 'qemu-x86';
      const append = [
        'console=ttyS0,115200',
        'loglevel=4',
        ICU_KEEP,
        `picluster.dispatcher=ws://10.0.2.2:${tm.master.port}/agent`,
        `picluster.name=${name}`,
        `picluster.token=${tm.tokenFor(name)}`,
      ].join(' ');
      const guest = boot('qemu-system-x86_64', [
        '-M',
        'q35',
        '-cpu',
        'max',
        '-smp',
        '2',
        '-m',
        '1024',
        '-nographic',
        '-no-reboot',
        '-kernel',
        join(DIST, 'amd64', 'vmlinuz'),
        '-initrd',
        join(DIST, 'amd64', 'initramfs.img'),
        // i6300esb.heartbeat=8: the watchdog fires 8 s after the last pet (the agent pets every 5 s)
        '-append',
        `${append} i6300esb.heartbeat=8 picluster.runtime=http://10.0.2.2:${bootServer.port}/boot/amd64/runtime.squashfs`,
        '-netdev',
        'user,id=n0',
        '-device',
        'virtio-net-pci,netdev=n0',
        // a hardware watchdog (i6300esb: /init loads its module, the agent gets --watchdog and
        // pets it; if it stopped, the guest would reset and, with -no-reboot, qemu would exit)
        '-device',
        'i6300esb',
        '-action',
        'watchdog=reset',
      ]);
      await guest.waitForLine(/picluster-init: runtime mounted/, 240_000);
      expect(bootServer.requests).toContain('/boot/amd64/runtime.squashfs');
      await guest.waitForLine(/picluster-init: package layer mounted/, 120_000);
      expect(bootServer.requests).toContain('/boot/amd64/packages.squashfs');
      await guest.waitForLine(/"msg":"watchdog armed"/, 120_000);
      const armedAt = performance.now();
      const r = await exerciseNode(tm, guest, name, 240_000);
      expectJoined(r, manifest, 'x86_64', 'x64');
      // keep going on heartbeats until the watchdog has been armed for 2 timeouts: still up
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no heartbeats from ${name}; serial:\n${guest.tail(20)}`)), 60_000);
        const onBeat = (): void => {
          if (performance.now() - armedAt < 16_000) return;
          clearTimeout(timer);
          tm.master.dispatcher.off('heartbeat', onBeat);
          resolve();
        };
        tm.master.dispatcher.on('heartbeat', onBeat);
      });
      expect(guest.exited).toBe(false);
      const py = await exercisePython(tm);
      expectPython(py, 'x86_64');
      record('x86_64', r, py, { runtime: 'http (picluster.runtime=)', watchdog: 'i6300esb' });
      await done(guest);
    },
    600_000,
  );
});
