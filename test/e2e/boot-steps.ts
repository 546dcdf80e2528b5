/**
 * A node's boot step by step, from what the master recorded of it: /init's milestones (the
 * kernel's own timestamps, in the agent's boot report), two kernel log lines that split the
 * kernel's part, and the agent hello (on the master's clock), as seconds since kernel start.
 * Pure; the image e2e prints it and `npm run bench:boot-profile` reports it.
 */
export interface BootEventLike {
  readonly kind: string;
  readonly at: number;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface BootStep {
  readonly step: string;
  /** Seconds since the kernel started. */
  readonly atS: number;
}

/** Kernel log lines whose timestamps split the kernel's own part of the boot. */
const KERNEL_MARKS: ReadonlyArray<[string, RegExp]> = [
  ['initramfs-unpacked', /Trying to unpack rootfs|Unpacking initramfs|Freeing initrd memory/],
  ['kernel-done', /Run \/init as init process|Freeing unused kernel/],
];

/** The steps in time order, ending with `agent-hello`; undefined without milestones or a hello. */
export function bootSteps(events: readonly BootEventLike[]): BootStep[] | undefined {
  const milestones = events.filter((e) => e.kind === 'init-milestone');
  const hello = events.find((e) => e.kind === 'agent-hello');
  const first = milestones[0];
  if (!first || !hello) return undefined;
  // the node's boot instant on the master's clock: a milestone's time minus its uptime
  const bootedAt = first.at - Number(first.detail?.uptimeMs ?? 0);
  const steps: BootStep[] = milestones.map((e) => ({ step: String(e.detail?.step), atS: Number(e.detail?.uptimeMs ?? 0) / 1000 }));
  const log = String(events.find((e) => e.kind === 'kernel-log')?.detail?.text ?? '');
  for (const [step, re] of KERNEL_MARKS) {
    const line = log.split('\n').find((l) => re.test(l));
    const t = line ? /^\[\s*([0-9.]+)\]/.exec(line)?.[1] : undefined;
    if (t) steps.push({ step, atS: Number(t) });
  }
  steps.push({ step: 'agent-hello', atS: (hello.at - bootedAt) / 1000 });
  return steps.sort((a, b) => a.atS - b.atS);
}

/** "  1.03 s  +1.03  step" lines. */
export function formatBootSteps(steps: readonly BootStep[]): string {
  let prev = 0;
  return steps
    .map((s) => {
      const line = `  ${s.atS.toFixed(2).padStart(7)} s  +${(s.atS - prev).toFixed(2).padStart(6)}  ${s.step}`;
      prev = s.atS;
      return line;
    })
    .join('\n');
}
