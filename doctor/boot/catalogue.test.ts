import { describe, expect, it } from 'vitest';
import type { BootEvent } from '../../netboot/boot-event.ts';
import { catalogueEntries, diagnoseBoot, type BootDoctorInput } from './diagnose.ts';
import { PI3_NODE, PI3_WHO, PI4_NODE, alter, at, dhcpEvent, offline, pi3Boot, pi4Boot, tftpEvent, upTo, without } from './timelines.ts';

const LATER = 10 * 60_000;
const pi3Down = (events: BootEvent[], extra: Partial<BootDoctorInput> = {}): BootDoctorInput => ({
  node: offline(PI3_NODE),
  bootEvents: events,
  now: at(LATER),
  ...extra,
});
const pi4Down = (events: BootEvent[], extra: Partial<BootDoctorInput> = {}): BootDoctorInput => ({
  node: offline(PI4_NODE),
  bootEvents: events,
  now: at(LATER),
  ...extra,
});
const noHello = (events: BootEvent[]) => events.filter((e) => e.kind !== 'agent-hello');
const repeatDhcp = (n: number, everyMs: number, pi = 'pi3b+') => Array.from({ length: n }, (_, i) => dhcpEvent(PI3_WHO.mac, PI3_WHO.node, i * everyMs, pi));
const ignored = (reason: string): BootEvent => ({
  kind: 'dhcp-ignored',
  at: at(0),
  mac: PI3_WHO.mac,
  outcome: 'ignored',
  reason,
  detail: { mode: 'proxy', arch: 0 },
});
const kernel = (message: string) => [{ at: at(20_000), kind: 'kernel', message }];

// One recorded timeline per catalogue entry: [entry id, input, verdict].
const CASES: [string, BootDoctorInput, string][] = [
  ['no-boot-events', pi3Down([]), 'failed'],
  ['unknown-client', pi3Down([ignored('unknown-client')]), 'failed'],
  ['pending-approval', pi3Down([ignored('enrolled-pending-approval')]), 'failed'],
  ['unsupported-arch', pi3Down([ignored('unsupported-arch')]), 'failed'],
  ['relayed', pi3Down([ignored('relayed')]), 'failed'],
  ['pool-exhausted', pi3Down([ignored('pool-exhausted')]), 'failed'],
  [
    'discover-late',
    {
      node: PI3_NODE,
      bootEvents: pi3Boot(),
      nodeEvents: [{ at: at(-31_000), kind: 'power', message: 'cycle via poe: done, verified (port 7)' }],
      now: at(LATER),
    },
    'booted',
  ],
  ['offer-ignored', pi4Down(repeatDhcp(6, 8_000, 'pi4')), 'failed'],
  ['discover-gave-up', pi3Down(repeatDhcp(5, 3_000)), 'failed'],
  ['dhcp-race-loop', pi3Down([0, 1, 2].flatMap((i) => upTo(pi3Boot(), 3).map((e) => ({ ...e, at: e.at + i * 20_000 })))), 'failed'],
  ['serial-dir-mismatch', pi3Down(upTo(pi3Boot(), 5), { node: { ...offline(PI3_NODE), serial: '0badcafe' } }), 'failed'],
  [
    'mac-prefix',
    pi4Down(noHello(alter(pi4Boot(), /./, (e) => ({ ...e, detail: { ...e.detail, file: String(e.detail?.file).replace(/^6f3e2a10/, 'dc-a6-32-01-36-c2') } })))),
    'failed',
  ],
  [
    'no-serial-prefix',
    pi4Down(
      noHello([
        ...upTo(pi4Boot(), 2).map((e) => ({ ...e, outcome: 'not-found', detail: { ...e.detail, bytes: 0 } })),
        ...upTo(pi4Boot(), 10)
          .slice(2)
          .map((e) => ({ ...e, detail: { ...e.detail, file: String(e.detail?.file).replace(/^6f3e2a10\//, '') } })),
      ]),
    ),
    'failed',
  ],
  ['missing-firmware', pi3Down([dhcpEvent(PI3_WHO.mac, PI3_WHO.node, 0, 'pi3b+'), tftpEvent(PI3_WHO, [1_200, 'bootcode.bin', 'not-found', 0])]), 'failed'],
  ['missing-dtb', pi3Down(noHello(alter(pi3Boot(), /\.dtb$/, (e) => ({ ...e, outcome: 'not-found' })))), 'failed'],
  [
    'missing-kernel',
    pi3Down(
      upTo(
        alter(pi3Boot(), /kernel8/, (e) => ({ ...e, outcome: 'not-found' })),
        15,
      ),
    ),
    'failed',
  ],
  [
    'tftp-block-limit',
    pi3Down(
      upTo(
        alter(pi3Boot(), /initramfs8/, (e) => ({ ...e, outcome: 'timeout', detail: { ...e.detail, sizeBytes: 40_000_000, bytes: 33_553_920 } })),
        16,
      ),
    ),
    'failed',
  ],
  [
    'tftp-stall',
    pi3Down(
      upTo(
        alter(pi3Boot(), /kernel8/, (e) =>
          e.outcome === 'complete' ? { ...e, outcome: 'timeout', reason: 'no ACK after 5 retransmits', detail: { ...e.detail, bytes: 4_000_256 } } : e,
        ),
        15,
      ),
    ),
    'failed',
  ],
  [
    'tftp-aborted',
    {
      node: PI3_NODE,
      bootEvents: alter(pi3Boot(), /bcm2710/, (e) => ({
        ...e,
        outcome: 'client-error',
        reason: 'client sent ERROR 0',
        detail: { ...e.detail, bytes: 20_480 },
      })),
      now: at(LATER),
    },
    'booted',
  ],
  ['essential-probe-only', pi3Down(upTo(pi3Boot(), 14)), 'failed'],
  [
    'config-over-4k',
    { node: PI4_NODE, bootEvents: alter(pi4Boot(), /config\.txt/, (e) => ({ ...e, detail: { ...e.detail, sizeBytes: 5_120, bytes: 5_120 } })), now: at(LATER) },
    'booted',
  ],
  ['fixup-mismatch', { node: PI3_NODE, bootEvents: without(pi3Boot(), /fixup/), now: at(LATER) }, 'booted'],
  ['kernel-then-silence', pi4Down(upTo(pi4Boot(), 9)), 'failed'],
  [
    'initramfs-truncated',
    pi3Down(noHello(pi3Boot()), { nodeEvents: kernel('Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)') }),
    'failed',
  ],
  ['kernel-oom', pi3Down(noHello(pi3Boot()), { nodeEvents: kernel('Out of memory: Killed process 92 (node)') }), 'failed'],
  [
    'token-refused',
    pi3Down(noHello(pi3Boot()), { refusal: { at: at(31_000), code: 'BAD_TOKEN', message: "the token does not belong to node 'node7.lan'" } }),
    'failed',
  ],
  ['no-agent', pi3Down(noHello(pi3Boot())), 'failed'],
  ['warm-reboot-no-netboot', pi3Down(pi3Boot(), { nodeEvents: [{ at: at(120_000), kind: 'reboot', message: 'reboot requested by admin' }] }), 'booted'],
  ['duplicate-ip', { node: PI3_NODE, bootEvents: alter(pi3Boot(), /kernel8|initramfs/, (e) => ({ ...e, ip: '192.168.1.99' })), now: at(LATER) }, 'booted'],
  ['unrecognised-stop', pi3Down(upTo(pi3Boot(), 3)), 'failed'],
];

describe('boot doctor catalogue: one recorded timeline per entry', () => {
  it.each(CASES)('%s', (id, input, verdict) => {
    const d = diagnoseBoot(input);
    expect(d.findings.map((f) => f.id)).toContain(id);
    expect(d.verdict).toBe(verdict);
    const f = d.findings.find((x) => x.id === id)!;
    expect(f.evidence.length).toBeGreaterThan(10);
    expect(f.fix.length).toBeGreaterThan(20);
  });

  it('has a case for every entry, and ids are unique', () => {
    const ids = catalogueEntries().map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThanOrEqual(22);
    expect(new Set(CASES.map((c) => c[0]))).toEqual(new Set(ids));
  });

  it.each([
    ['Pi 3B+', { node: PI3_NODE, bootEvents: pi3Boot(), now: at(LATER) }, 31_000],
    ['Pi 4', { node: PI4_NODE, bootEvents: pi4Boot(), now: at(LATER) }, 19_000],
  ] as const)('a good %s boot: booted, no findings, DISCOVER→hello time', (_, input, bootMs) => {
    const d = diagnoseBoot(input);
    expect(d).toMatchObject({ verdict: 'booted', findings: [], bootMs, lastStep: 'agent-hello rebooted' });
  });

  it('a boot in progress is not a failure', () => {
    const d = diagnoseBoot({ node: offline(PI3_NODE), bootEvents: upTo(pi3Boot(), 13), now: at(9_500) });
    expect(d).toMatchObject({ verdict: 'booting', findings: [] });
    expect(d.lastStep).toBe('tftp 1a2b3c4d/cmdline.txt complete');
  });

  it('diagnoses the latest attempt: an old failed attempt before a good boot is history', () => {
    const old = pi3Boot()
      .slice(0, 4)
      .map((e) => ({ ...e, at: e.at - 3_600_000 }));
    const d = diagnoseBoot({ node: PI3_NODE, bootEvents: [...pi3Boot(), ...old].reverse(), now: at(LATER) });
    expect(d).toMatchObject({ verdict: 'booted', findings: [], attemptStartedAt: at(0) });
  });

  it('the stall entry names the block', () => {
    const d = diagnoseBoot(CASES.find((c) => c[0] === 'tftp-stall')![1]);
    expect(d.findings.find((f) => f.id === 'tftp-stall')!.evidence).toBe('1a2b3c4d/kernel8.img stopped at block 7813 of 17579 (no ACK after 5 retransmits)');
  });
});

describe('docs/troubleshooting.md', () => {
  it('explains every catalogue entry', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/troubleshooting.md', import.meta.url), 'utf8');
    const missing = catalogueEntries().filter((e) => !doc.includes(`\`${e.id}\``));
    expect(missing.map((e) => e.id)).toEqual([]);
  });
});
