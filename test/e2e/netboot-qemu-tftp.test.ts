/**
 * Issue 3's acceptance, end to end with no stand-ins: a qemu guest netboots against
 * picluster's real DHCP *and* TFTP servers, started together by `startNetboot` in a child
 * process (netboot-qemu-tftp-harness.ts) inside a network namespace this test creates, on
 * the tap device of the guest. Everything asserted comes from picluster's own boot events.
 *
 * x86 (SeaBIOS + Debian's iPXE e1000 ROM, TCG): full DHCP mode; iPXE (option 77) is given
 * `ipxeScriptUrl` = `tftp://{server}/boot.ipxe`. That script, served over picluster's TFTP,
 * chains `tftp://<server>/${net0/mac:hexhyp}/second.ipxe`: a name only the guest can make
 * by *executing* the first script (iPXE expands the MAC). picluster resolves the MAC prefix
 * (falls back to the shared `second.ipxe`, identifying the node), and the second script in
 * turn fetches `done-${net0/ip}`. So each transfer proves the previous file was received
 * whole and run.
 *
 * arm64 (EDK2 `QEMU_EFI.fd`, its own PXE client, arch 11): full DHCP mode; it is given
 * `bootFiles.arm64Uefi` and must fetch that file whole over picluster's TFTP (the file is
 * not a real EFI image, the firmware only has to download it).
 *
 * Waits are on events with generous timeouts (TCG on 2 shared cores); no fixed sleeps.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootEvent } from '../../netboot/boot-event.ts';
import { inNs, Lab, netnsUnavailable, uniqueName, which, type Proc } from './netboot-dhcp-netns.ts';

const NETBOOT = fileURLToPath(new URL('./netboot-qemu-tftp-harness.ts', import.meta.url));
const ROM = '/usr/lib/ipxe/qemu/efi-e1000.rom';
const AARCH64_FW = '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd';
const BOOT_TIMEOUT_MS = 240_000; // firmware + iPXE/EDK2 under TCG on a shared 2-core machine

const baseSkip = netnsUnavailable() ?? (existsSync('/dev/net/tun') ? undefined : '/dev/net/tun is missing (tap devices)');
const x86Skip =
  baseSkip ??
  (which('qemu-system-x86_64') ? undefined : 'qemu-system-x86_64 is not installed (Debian package qemu-system-x86)') ??
  (existsSync(ROM) ? undefined : `${ROM} is missing (Debian package ipxe-qemu)`);
const armSkip =
  baseSkip ??
  (which('qemu-system-aarch64') ? undefined : 'qemu-system-aarch64 is not installed (Debian package qemu-system-arm)') ??
  (existsSync(AARCH64_FW) ? undefined : `${AARCH64_FW} is missing (Debian package qemu-efi-aarch64)`);

const QEMU_COMMON = ['-nodefaults', '-display', 'none', '-serial', 'none', '-monitor', 'none', '-no-reboot'];

/** One namespace with a tap (addressed `server/24`), picluster netboot on it, a TFTP root. */
async function setUp(
  lab: Lab,
  opts: {
    server: string;
    range: [string, string];
    node: { name: string; mac: string; model?: string };
    dhcp?: Record<string, unknown>;
    files: Record<string, Buffer | string>;
  },
): Promise<{ ns: string; tap: string; netboot: Proc }> {
  const ns = lab.addNs('pct');
  const tap = uniqueName('tt');
  inNs(ns, 'ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
  inNs(ns, 'ip', 'addr', 'add', `${opts.server}/24`, 'dev', tap);
  inNs(ns, 'ip', 'link', 'set', tap, 'up');
  const root = lab.tmp('tftp');
  mkdirSync(root, { recursive: true });
  for (const [name, content] of Object.entries(opts.files)) writeFileSync(`${root}/${name}`, content);
  const netboot = lab.node(ns, NETBOOT, [
    JSON.stringify({
      netboot: {
        serverAddress: opts.server,
        interface: tap,
        mode: 'full',
        clients: 'known',
        tftpRoot: root,
        dhcp: { ...opts.dhcp, full: { rangeStart: opts.range[0], rangeEnd: opts.range[1] } },
      },
      nodes: [{ ...opts.node, approved: true }],
    }),
  ]);
  const ready = await netboot.waitJson<{ ready: { ports: Record<string, number> } }>((j) => 'ready' in j, 30_000, 'picluster netboot ready');
  expect(ready.ready.ports).toMatchObject({ tftp: 69 });
  return { ns, tap, netboot };
}

function waitEvent(p: Proc, pred: (e: BootEvent) => boolean, what: string): Promise<BootEvent> {
  return p.waitJson<{ event: BootEvent }>((j) => 'event' in j && pred(j.event as BootEvent), BOOT_TIMEOUT_MS, what).then((j) => j.event);
}

function events(p: Proc): BootEvent[] {
  return p.json.filter((j) => 'event' in j).map((j) => j.event as BootEvent);
}

const tftpOf = (file: string) => (e: BootEvent) => e.kind === 'tftp-transfer' && e.detail?.file === file;

// ─── x86 iPXE ────────────────────────────────────────────────────────────────────────────

const X86_SERVER = '10.213.7.1';
const X86_IP = '10.213.7.100';
const X86_MAC = '52:54:00:5e:0f:1a';
const X86_HYP = X86_MAC.replaceAll(':', '-');
const BOOT_IPXE = `#!ipxe\necho picluster e2e: boot.ipxe received over TFTP from \${next-server}\nchain tftp://${X86_SERVER}/\${net0/mac:hexhyp}/second.ipxe\n`;
// Longer than one TFTP block (iPXE asks for blksize 1432), so the second fetch is multi-block.
const SECOND_IPXE = [
  '#!ipxe',
  ...Array.from({ length: 60 }, (_, i) => `# padding line ${i.toString().padStart(2, '0')}: makes this script span several TFTP blocks`),
  'echo picluster e2e: second.ipxe running',
  `imgfetch tftp://${X86_SERVER}/done-\${net0/ip}`,
  '',
].join('\n');
const DONE = `picluster e2e third file\n`;

describe.skipIf(x86Skip !== undefined)(`qemu x86 iPXE guest netboots over picluster's DHCP + TFTP${x86Skip ? ` — skipped: ${x86Skip}` : ''}`, () => {
  const lab = new Lab();
  let netboot: Proc;
  let guest: Proc | undefined;

  beforeAll(async () => {
    const s = await setUp(lab, {
      server: X86_SERVER,
      range: [X86_IP, '10.213.7.120'],
      node: { name: 'qemu-x86', mac: X86_MAC, model: 'x86-64' },
      dhcp: { ipxeScriptUrl: 'tftp://{server}/boot.ipxe' },
      files: { 'boot.ipxe': BOOT_IPXE, 'second.ipxe': SECOND_IPXE, [`done-${X86_IP}`]: DONE },
    });
    netboot = s.netboot;
    guest = lab.spawn(s.ns, 'qemu-system-x86_64', [
      '-machine',
      'pc',
      '-accel',
      'tcg',
      '-m',
      '128',
      ...QEMU_COMMON,
      '-boot',
      'order=n',
      '-netdev',
      `tap,id=n0,ifname=${s.tap},script=no,downscript=no`,
      '-device',
      `e1000,netdev=n0,mac=${X86_MAC},romfile=${ROM}`,
    ]);
  }, 120_000);

  afterAll(async () => {
    await guest?.stop();
    await lab.destroy();
  }, 30_000);

  it(
    'picluster OFFERs and ACKs the guest (iPXE) with the tftp:// script URL',
    async () => {
      const offer = await waitEvent(netboot, (e) => e.kind === 'dhcp-discover' && e.mac === X86_MAC && e.detail?.reply === 'OFFER', 'OFFER event');
      expect(offer).toMatchObject({ outcome: 'answered', node: 'qemu-x86', ip: X86_IP, detail: { boot: `tftp://${X86_SERVER}/boot.ipxe`, userClass: 'iPXE' } });
      const ack = await waitEvent(netboot, (e) => e.kind === 'dhcp-ack', 'ACK event');
      expect(ack).toMatchObject({ outcome: 'leased', mac: X86_MAC, ip: X86_IP, node: 'qemu-x86' });
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'the guest fetches boot.ipxe whole over picluster TFTP',
    async () => {
      const t = await waitEvent(netboot, tftpOf('boot.ipxe'), 'tftp-transfer of boot.ipxe');
      expect(t, JSON.stringify(events(netboot))).toMatchObject({
        outcome: 'complete',
        ip: X86_IP,
        detail: { bytes: Buffer.byteLength(BOOT_IPXE), sizeBytes: Buffer.byteLength(BOOT_IPXE), source: 'shared' },
      });
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'then runs it: fetches the MAC-named second script (multi-block), which fetches a third file',
    async () => {
      const second = await waitEvent(netboot, tftpOf(`${X86_HYP}/second.ipxe`), 'tftp-transfer of <mac>/second.ipxe');
      expect(second, JSON.stringify(events(netboot))).toMatchObject({
        outcome: 'complete',
        ip: X86_IP,
        mac: X86_MAC,
        node: 'qemu-x86',
        detail: { bytes: Buffer.byteLength(SECOND_IPXE), sizeBytes: Buffer.byteLength(SECOND_IPXE), source: 'shared' },
      });
      expect(Buffer.byteLength(SECOND_IPXE)).toBeGreaterThan(Number(second.detail!.blksize));
      const done = await waitEvent(netboot, tftpOf(`done-${X86_IP}`), 'tftp-transfer of done-<ip>');
      expect(done).toMatchObject({ outcome: 'complete', ip: X86_IP, detail: { bytes: DONE.length } });
      // Each file was fetched once, in order, and nothing failed.
      const transfers = events(netboot).filter((e) => e.kind === 'tftp-transfer');
      expect(transfers.map((e) => [e.detail?.file, e.outcome])).toEqual([
        ['boot.ipxe', 'complete'],
        [`${X86_HYP}/second.ipxe`, 'complete'],
        [`done-${X86_IP}`, 'complete'],
      ]);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );
});

// ─── arm64 UEFI (EDK2's own PXE) ─────────────────────────────────────────────────────────

const ARM_SERVER = '10.213.8.1';
const ARM_IP = '10.213.8.100';
const ARM_MAC = '52:54:00:5e:0f:1c';
const ARM_FILE = 'efi/boot-arm64.efi';
const ARM_BYTES = randomBytes(200 * 1024 + 123); // ~140 blocks at 1468: several windows

describe.skipIf(armSkip !== undefined)(`qemu arm64 UEFI guest netboots over picluster's DHCP + TFTP${armSkip ? ` — skipped: ${armSkip}` : ''}`, () => {
  const lab = new Lab();
  let netboot: Proc;
  let guest: Proc | undefined;

  beforeAll(async () => {
    const s = await setUp(lab, {
      server: ARM_SERVER,
      range: [ARM_IP, '10.213.8.120'],
      node: { name: 'qemu-arm64', mac: ARM_MAC },
      dhcp: { bootFiles: { arm64Uefi: ARM_FILE } },
      files: {},
    });
    mkdirSync(lab.tmp('tftp/efi'));
    writeFileSync(lab.tmp(`tftp/${ARM_FILE}`), ARM_BYTES);
    netboot = s.netboot;
    guest = lab.spawn(s.ns, 'qemu-system-aarch64', [
      '-machine',
      'virt',
      '-cpu',
      'cortex-a57',
      '-m',
      '512',
      ...QEMU_COMMON,
      '-bios',
      AARCH64_FW,
      '-netdev',
      `tap,id=n0,ifname=${s.tap},script=no,downscript=no`,
      // romfile= : no iPXE ROM, so EDK2's own PXE client does the boot
      '-device',
      `virtio-net-pci,netdev=n0,mac=${ARM_MAC},romfile=`,
    ]);
  }, 120_000);

  afterAll(async () => {
    await guest?.stop();
    await lab.destroy();
  }, 30_000);

  it(
    'picluster OFFERs and ACKs the guest (arch 11) with bootFiles.arm64Uefi',
    async () => {
      const offer = await waitEvent(netboot, (e) => e.kind === 'dhcp-discover' && e.mac === ARM_MAC && e.detail?.reply === 'OFFER', 'OFFER event');
      expect(offer).toMatchObject({ outcome: 'answered', node: 'qemu-arm64', ip: ARM_IP, detail: { arch: 11, boot: ARM_FILE } });
      const ack = await waitEvent(netboot, (e) => e.kind === 'dhcp-ack', 'ACK event');
      expect(ack).toMatchObject({ outcome: 'leased', mac: ARM_MAC, ip: ARM_IP });
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'the firmware downloads the EFI boot file whole over picluster TFTP',
    async () => {
      const t = await waitEvent(netboot, (e) => tftpOf(ARM_FILE)(e) && e.outcome === 'complete', `complete tftp-transfer of ${ARM_FILE}`);
      expect(t).toMatchObject({ ip: ARM_IP, detail: { bytes: ARM_BYTES.length, sizeBytes: ARM_BYTES.length } });
      // EDK2 asks for the size first (tsize, then aborts); anything else must not have failed.
      const others = events(netboot).filter((e) => e.kind === 'tftp-transfer' && e.outcome !== 'complete');
      expect(
        others.every((e) => e.outcome === 'probe'),
        JSON.stringify(others),
      ).toBe(true);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );
});
