import { describe, expect, it } from 'vitest';
import { bootSteps, formatBootSteps } from './boot-steps.ts';

describe('bootSteps', () => {
  const bootedAt = 1_000_000;
  const ms = (step: string, uptimeMs: number) => ({ kind: 'init-milestone', at: bootedAt + uptimeMs, detail: { step, uptimeMs } });
  const kernelLog = {
    kind: 'kernel-log',
    at: bootedAt,
    detail: { text: '[    0.000000] Booting Linux\n[    0.870000] Trying to unpack rootfs image as initramfs...\n[    2.130000] Run /init as init process' },
  };

  it('orders milestones, kernel marks and the hello as seconds since kernel start', () => {
    const steps = bootSteps([ms('kernel-start', 0), ms('init', 2650), ms('agent-started', 17650), kernelLog, { kind: 'agent-hello', at: bootedAt + 48_390 }]);
    expect(steps).toEqual([
      { step: 'kernel-start', atS: 0 },
      { step: 'initramfs-unpacked', atS: 0.87 },
      { step: 'kernel-done', atS: 2.13 },
      { step: 'init', atS: 2.65 },
      { step: 'agent-started', atS: 17.65 },
      { step: 'agent-hello', atS: 48.39 },
    ]);
    expect(formatBootSteps(steps!).split('\n')[5]).toBe('    48.39 s  + 30.74  agent-hello');
  });

  it('is undefined without a boot report or a hello', () => {
    expect(bootSteps([{ kind: 'agent-hello', at: 5 }])).toBeUndefined();
    expect(bootSteps([ms('init', 1)])).toBeUndefined();
  });
});
