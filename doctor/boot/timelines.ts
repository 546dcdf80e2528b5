/**
 * Boot timelines for the boot doctor's table tests, in the shape netboot records them: a good
 * Pi 3B+ boot (the request order of fw#1012/fw#1362 in §1.3 of the brief, probes early-terminated),
 * a good Pi 4 boot (ee#87's order, §2) and an x86 iPXE boot, each a list of BootEvents at
 * realistic offsets. Tests cut, drop and alter steps of these to make each failure.
 */
import type { BootEvent } from '../../netboot/boot-event.ts';

export const T0 = 1_767_000_000_000;
const PI3_MAC = 'b8:27:eb:10:00:07';
const PI3_SERIAL = '1a2b3c4d';
const PI4_MAC = 'dc:a6:32:01:36:c2';
const PI4_SERIAL = '6f3e2a10';

type Step = [ms: number, file: string, outcome: string, sizeBytes: number, blksize?: number];

function tftp(base: { mac: string; serial: string; node: string; ip: string }, [ms, file, outcome, size, blk = 512]: Step): BootEvent {
  const bytes = outcome === 'complete' ? size : outcome === 'probe' ? Math.min(size, blk) : 0;
  return {
    kind: 'tftp-transfer',
    at: T0 + ms,
    mac: base.mac,
    serial: base.serial,
    node: base.node,
    ip: base.ip,
    outcome,
    ...(outcome === 'not-found' ? { reason: 'no such file' } : outcome === 'probe' ? { reason: 'Early terminate' } : {}),
    detail: {
      file,
      bytes,
      bytesSent: bytes,
      sizeBytes: size,
      durationMs: Math.round(size / 5_000),
      blksize: blk,
      windowsize: 1,
      retransmits: 0,
      source: 'image',
    },
  };
}

function dhcp(mac: string, node: string, ms: number, pi: string, serial?: string): BootEvent {
  return {
    kind: 'dhcp-discover',
    at: T0 + ms,
    mac,
    node,
    ...(serial ? { serial } : {}),
    outcome: 'answered',
    detail: { mode: 'proxy', via: 'broadcast', type: 'DISCOVER', xid: '0x26f30339', vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: 0, pi },
  };
}

function hello(mac: string, node: string, ms: number): BootEvent {
  return {
    kind: 'agent-hello',
    at: T0 + ms,
    node,
    mac,
    ip: '192.168.1.57',
    outcome: 'rebooted',
    detail: { agentVersion: '0.1.0', bootId: 'b00710', imageVersion: '2026.12.1' },
  };
}

const p3 = { mac: PI3_MAC, serial: PI3_SERIAL, node: 'node7.lan', ip: '192.168.1.57' };
const s3 = `${PI3_SERIAL}/`;
const PI3_STEPS: Step[] = [
  [1_200, 'bootcode.bin', 'complete', 52_456],
  [1_400, 'bootsig.bin', 'not-found', 0],
  [2_100, `${s3}start.elf`, 'probe', 2_981_376],
  [2_200, `${s3}autoboot.txt`, 'not-found', 0],
  [2_300, `${s3}config.txt`, 'complete', 1_420],
  [2_400, `${s3}recovery.elf`, 'not-found', 0],
  [3_100, `${s3}start.elf`, 'complete', 2_981_376],
  [3_300, `${s3}fixup.dat`, 'complete', 7_314],
  [5_000, `${s3}config.txt`, 'complete', 1_420],
  [5_100, `${s3}dt-blob.bin`, 'not-found', 0],
  [5_300, `${s3}bcm2710-rpi-3-b-plus.dtb`, 'complete', 32_642],
  [5_500, `${s3}cmdline.txt`, 'complete', 260],
  [5_700, `${s3}kernel8.img`, 'probe', 9_000_000],
  [8_900, `${s3}kernel8.img`, 'complete', 9_000_000],
  [16_400, `${s3}initramfs8`, 'complete', 24_000_000],
];

export function pi3Boot(): BootEvent[] {
  return [
    dhcp(PI3_MAC, 'node7.lan', 0, 'pi3b+'),
    ...PI3_STEPS.map((s) => tftp(p3, s)),
    { kind: 'http-fetch', at: T0 + 22_000, ip: p3.ip, outcome: 'complete', detail: { file: 'runtime/arm64.sqfs', bytes: 30_000_000, durationMs: 2_900 } },
    hello(PI3_MAC, 'node7.lan', 31_000),
  ];
}

const p4 = { mac: PI4_MAC, serial: PI4_SERIAL, node: 'node20.lan', ip: '192.168.1.80' };
const s4 = `${PI4_SERIAL}/`;
const PI4_STEPS: Step[] = [
  [900, `${s4}start4.elf`, 'probe', 2_250_000, 1468],
  [1_000, `${s4}config.txt`, 'complete', 1_420, 1468],
  [1_300, `${s4}start4.elf`, 'complete', 2_250_000, 1468],
  [1_500, `${s4}fixup4.dat`, 'complete', 5_400, 1468],
  [2_600, `${s4}bcm2711-rpi-4-b.dtb`, 'complete', 52_000, 1468],
  [2_700, `${s4}overlays/overlay_map.dtb`, 'not-found', 0, 1468],
  [2_800, `${s4}cmdline.txt`, 'complete', 260, 1468],
  [4_800, `${s4}kernel8.img`, 'complete', 9_000_000, 1468],
  [8_000, `${s4}initramfs8`, 'complete', 24_000_000, 1468],
];

export function pi4Boot(): BootEvent[] {
  return [dhcp(PI4_MAC, 'node20.lan', 0, 'pi4', PI4_SERIAL), ...PI4_STEPS.map((s) => tftp(p4, s)), hello(PI4_MAC, 'node20.lan', 19_000)];
}

export const PI3_NODE = { name: 'node7.lan', model: 'pi3b+', serial: PI3_SERIAL, mac: PI3_MAC, state: 'online', connected: true } as const;
export const PI4_NODE = { name: 'node20.lan', model: 'pi4', serial: PI4_SERIAL, mac: PI4_MAC, state: 'online', connected: true } as const;
export const offline = <T extends object>(n: T): T & { state: string; connected: boolean } => ({ ...n, state: 'lost', connected: false });

/** A timeline cut after the first `n` events (the boot stopped there). */
export const upTo = (events: BootEvent[], n: number): BootEvent[] => events.slice(0, n);
/** Events without those whose file matches. */
export const without = (events: BootEvent[], re: RegExp): BootEvent[] => events.filter((e) => !re.test(String(e.detail?.file ?? '')));
/** The same events with those whose file matches changed. */
export const alter = (events: BootEvent[], re: RegExp, change: (e: BootEvent) => BootEvent): BootEvent[] =>
  events.map((e) => (re.test(String(e.detail?.file ?? '')) ? change(e) : e));
export const at = (ms: number): number => T0 + ms;
export { dhcp as dhcpEvent, tftp as tftpEvent, p3 as PI3_WHO, p4 as PI4_WHO };
