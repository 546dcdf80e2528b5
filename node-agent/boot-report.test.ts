import { accessSync, constants } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bootedAtMs, buildBootReport, milestonesOf, parseKmsgRecord, readKmsg, type KmsgRecord } from './boot-report.ts';

const rec = (seq: number, usec: number, text: string, level = 6): KmsgRecord => ({ level, seq, usec, text });

describe('kmsg records', () => {
  it.each([
    [
      'kernel line',
      '6,0,0,-;Booting Linux on physical CPU 0x0000000000 [0x410fd034]\n',
      { level: 6, seq: 0, usec: 0, text: 'Booting Linux on physical CPU 0x0000000000 [0x410fd034]' },
    ],
    [
      'with continuation fields',
      '4,339,5140900,-,caller=T1;usb 1-1: new device\n SUBSYSTEM=usb\n DEVICE=c189:1\n',
      { level: 4, seq: 339, usec: 5140900, text: 'usb 1-1: new device' },
    ],
    [
      'user-space record (facility user, level notice)',
      '13,812,6021334,-;picluster-init: milestone=dhcp-lease ip=10.0.0.7\n',
      { level: 5, seq: 812, usec: 6021334, text: 'picluster-init: milestone=dhcp-lease ip=10.0.0.7' },
    ],
    ['no semicolon', 'garbage', undefined],
    ['bad numbers', 'x,y,z,-;text', undefined],
  ])('%s', (_n, raw, want) => expect(parseKmsgRecord(raw)).toEqual(want));
});

describe('milestones', () => {
  it("are /init's kmsg records, with kernel-start from the first record of the boot", () => {
    const records = [
      rec(0, 0, 'Booting Linux on physical CPU 0x0'),
      rec(1, 1_500_000, 'Run /init as init process'),
      rec(2, 1_600_000, 'picluster-init: milestone=init image=0.1.0+abc', 5),
      rec(3, 2_100_500, 'picluster-init: milestone=modules-loaded board=virt count=9', 5),
      rec(4, 9_000_000, 'picluster-init: milestone=runtime-mismatch outcome=error got=aa want=bb', 5),
      rec(5, 9_100_000, 'picluster-init: milestone=Bad_Step x=1', 5),
    ];
    expect(milestonesOf(records)).toEqual([
      { step: 'kernel-start', uptimeMs: 0, detail: { text: 'Booting Linux on physical CPU 0x0' } },
      { step: 'init', uptimeMs: 1600, detail: { image: '0.1.0+abc' } },
      { step: 'modules-loaded', uptimeMs: 2100.5, detail: { board: 'virt', count: '9' } },
      { step: 'runtime-mismatch', uptimeMs: 9000, detail: { outcome: 'error', got: 'aa', want: 'bb' } },
    ]);
  });

  it('no kernel-start when the ring no longer holds the first record', () => {
    expect(milestonesOf([rec(40, 5, 'x')])).toEqual([]);
  });
});

describe('the report', () => {
  it('keeps the newest lines within the bounds and counts what it dropped', () => {
    const records = Array.from({ length: 10 }, (_, i) => rec(i, i * 1000, `line ${i}`));
    const r = buildBootReport(records, 'boot-1', 1_700_000_000_000, 3, { maxLines: 4 });
    expect(r.kernelLog.map((l) => l.text)).toEqual(['line 6', 'line 7', 'line 8', 'line 9']);
    expect(r.droppedLines).toBe(3 + 6);
    expect(r.milestones[0]?.step).toBe('kernel-start');
    const bytes = buildBootReport(records, 'boot-1', 0, 0, { maxBytes: 13 });
    expect(bytes.kernelLog.map((l) => l.text)).toEqual(['line 8', 'line 9']);
  });

  it('boot time is now minus the uptime', () => {
    expect(bootedAtMs(1_000_000, '12.50 40.00\n')).toBe(987_500);
    expect(bootedAtMs(1_000_000, 'garbage')).toBe(1_000_000);
  });
});

const canReadKmsg = (() => {
  try {
    accessSync('/dev/kmsg', constants.R_OK);
    readKmsg('/dev/kmsg', 1);
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!canReadKmsg)('reading /dev/kmsg (skipped: not readable here, e.g. not root)', () => {
  it("reads this machine's kernel ring without blocking, every record parsed", () => {
    const { records } = readKmsg('/dev/kmsg', 5000);
    expect(records.length).toBeGreaterThan(0);
    for (let i = 1; i < records.length; i++) expect(records[i]!.seq).toBeGreaterThan(records[i - 1]!.seq);
  });
});
