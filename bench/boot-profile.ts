/**
 * Where a node's boot goes: one qemu guest at a time (TCG, no disk) boots image/dist from a real
 * master on loopback, and the profile is read from what the node itself reports: the kernel's
 * own timestamps of its log lines and of /init's milestones (the boot report), the agent's hello
 * on the master's clock, and qemu's start on the host's. Then the node runs the image e2e's jobs
 * (exec, pty, function) and its idle RAM (MemTotal − MemAvailable) is read from a heartbeat.
 *
 *   npm run bench:boot-profile -- [--machine virt|x86] [--runs 3] [--json out.json]
 *
 * Needs image/dist for the machine's arch (`npm run build-image`; built here if missing).
 * virt: `-M virt -cpu cortex-a53 -smp 2 -m 1024`, the runtime from the master's /boot/;
 * x86: `-M q35 -cpu max -smp 2 -m 1024`, the same. Not a timed test: a report.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bootSteps, formatBootSteps, type BootEventLike, type BootStep } from '../test/e2e/boot-steps.ts';
import { DIST, ensureImage, exerciseNode, Guest, ICU_KEEP, startTestMaster } from '../test/e2e/image-harness.ts';

const { values } = parseArgs({
  options: {
    machine: { type: 'string', default: 'virt' },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const machine = values.machine;
if (machine !== 'virt' && machine !== 'x86') throw new Error(`--machine: virt or x86, not ${machine}`);

interface Run {
  /** Seconds since kernel start (the guest's uptime), in time order, ending with the agent hello. */
  steps: BootStep[];
  /** qemu spawned → agent hello, on the host's clock. */
  helloHostS: number;
  /** qemu spawned → kernel start (firmware, kernel and initrd loading): host time minus guest uptime. */
  beforeKernelS: number;
  idleRamMb: number | undefined;
}

async function once1(): Promise<Run> {
  const arch = machine === 'virt' ? 'arm64' : 'amd64';
  await ensureImage(arch);
  const tm = await startTestMaster();
  const name = `profile-${machine}`;
  const append = [
    machine === 'virt' ? 'console=ttyAMA0' : 'console=ttyS0,115200',
    'loglevel=4',
    ICU_KEEP,
    `picluster.dispatcher=ws://10.0.2.2:${tm.master.port}/agent`,
    `picluster.name=${name}`,
    `picluster.token=${tm.tokenFor(name)}`,
  ].join(' ');
  const net = ['-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0'];
  const common = ['-smp', '2', '-m', '1024', '-nographic', '-no-reboot', '-append', append, ...net];
  const guest =
    machine === 'virt'
      ? new Guest('qemu-system-aarch64', [
          '-M',
          'virt',
          '-cpu',
          'cortex-a53',
          '-kernel',
          join(DIST, 'pi', 'kernel8.img'),
          '-initrd',
          join(DIST, 'pi', 'initramfs8'),
          ...common,
        ])
      : new Guest('qemu-system-x86_64', [
          '-M',
          'q35',
          '-cpu',
          'max',
          '-kernel',
          join(DIST, 'amd64', 'vmlinuz'),
          '-initrd',
          join(DIST, 'amd64', 'initramfs.img'),
          ...common,
        ]);
  try {
    const spawnedAt = Date.now() - guest.elapsedS() * 1000;
    const r = await exerciseNode(tm, guest, name, 300_000);
    const events = await tm.api<BootEventLike[]>('GET', `/api/boot-events?node=${encodeURIComponent(name)}`);
    const steps = bootSteps(events);
    if (!steps) throw new Error(`no boot report or hello from ${name}: ${events.map((e) => e.kind).join(', ')}`);
    const hello = events.find((e) => e.kind === 'agent-hello')!;
    const helloHostS = (hello.at - spawnedAt) / 1000;
    return { steps, helloHostS, beforeKernelS: helloHostS - steps[steps.length - 1]!.atS, idleRamMb: r.idleRamMb };
  } finally {
    await guest.stop();
    await tm.close();
  }
}

const runs: Run[] = [];
const load0 = loadavg()[0]!;
for (let i = 0; i < Number(values.runs); i++) {
  const run = await once1();
  runs.push(run);
  console.log(
    `run ${i + 1}: hello ${run.helloHostS.toFixed(1)} s after qemu started (${run.beforeKernelS.toFixed(1)} s before the kernel), idle RAM ${run.idleRamMb} MB`,
  );
  console.log(formatBootSteps(run.steps));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const names = [...new Set(runs.flatMap((r) => r.steps.map((s) => s.step)))];
const table = names.map((step) => ({ step, medianAtS: median(runs.map((r) => r.steps.find((s) => s.step === step)?.atS ?? NaN).filter(Number.isFinite)) }));
console.log(`median of ${runs.length} (${machine}, load average ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}):`);
console.log(formatBootSteps(table.map((t) => ({ step: t.step, atS: t.medianAtS })).sort((a, b) => a.atS - b.atS)));
console.log(
  `  hello after qemu start: ${median(runs.map((r) => r.helloHostS)).toFixed(1)} s; idle RAM ${median(runs.map((r) => r.idleRamMb ?? NaN).filter(Number.isFinite))} MB`,
);
if (values.json)
  writeFileSync(
    values.json,
    JSON.stringify({ at: new Date().toISOString(), machine, loadAverage: [load0, loadavg()[0]], runs, median: table }, null, 2) + '\n',
  );
