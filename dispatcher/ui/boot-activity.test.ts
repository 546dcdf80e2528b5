import { describe, expect, it } from 'vitest';
import { bootRows, latestBoot } from './src/boot-activity.ts';
import type { BootEvent } from './src/types.ts';

const T = 1_767_000_000_000;
const ev = (node: string, ms: number, kind: BootEvent['kind'], outcome = 'ok', detail: BootEvent['detail'] = {}): BootEvent => ({
  node,
  at: T + ms,
  kind,
  outcome,
  detail,
});

const pi = [
  ev('pi1', 0, 'dhcp-discover', 'answered'),
  ev('pi1', 1500, 'tftp-transfer', 'complete', { file: 'bootcode.bin' }),
  ev('pi1', 9000, 'tftp-transfer', 'complete', { file: 'kernel8.img' }),
  ev('pi1', 9100, 'init-milestone', 'ok', { step: 'kernel-start' }),
  ev('pi1', 9000 + 6000, 'init-milestone', 'ok', { step: 'dhcp-lease' }),
  ev('pi1', 9100, 'kernel-log', 'complete', { text: '…' }),
  ev('pi1', 21000, 'agent-hello', 'connected'),
];

describe('boot activity', () => {
  it("a node's latest boot starts at the first DHCP event after a hello; the kernel log is no step", () => {
    const second = [ev('pi1', 60_000, 'dhcp-discover', 'answered'), ev('pi1', 61_000, 'tftp-transfer', 'complete', { file: 'bootcode.bin' })];
    expect(latestBoot([...second, ...pi]).map((e) => e.at - T)).toEqual([60_000, 61_000]);
    expect(latestBoot(pi).map((e) => e.kind)).not.toContain('kernel-log');
    expect(latestBoot(pi)).toHaveLength(6);
  });

  it('one row per node: failures first, then booting, then up; steps with their durations', () => {
    const rows = bootRows([
      ...pi,
      ev('x1', 5000, 'dhcp-discover', 'answered'),
      ev('x1', 6000, 'http-fetch', 'answered', { file: 'ipxe' }),
      ev('arm1', 1000, 'dhcp-discover', 'answered'),
      ev('arm1', 2000, 'tftp-transfer', 'not-found', { file: 'aa-bb/grub.cfg' }),
    ]);
    expect(rows.map((r) => [r.node, r.status, r.current])).toEqual([
      ['arm1', 'failed', 'tftp aa-bb/grub.cfg'],
      ['x1', 'booting', 'http ipxe'],
      ['pi1', 'up', 'agent hello'],
    ]);
    expect(rows[0]?.failure).toBe('tftp aa-bb/grub.cfg: not-found');
    const steps = rows[2]!.steps;
    expect(steps.map((s) => s.label)).toEqual(['dhcp-discover', 'tftp bootcode.bin', 'tftp kernel8.img', 'kernel-start', 'dhcp-lease', 'agent hello']);
    expect(steps.map((s) => s.durationMs)).toEqual([1500, 7500, 100, 5900, 6000, undefined]);
  });

  it('an unknown client is shown by MAC', () => {
    expect(bootRows([{ at: T, kind: 'dhcp-ignored', outcome: 'ignored', mac: 'dc:a6:32:01:02:03', reason: 'pending-approval' }])).toMatchObject([
      { node: 'unknown dc:a6:32:01:02:03', status: 'failed' },
    ]);
  });
});
