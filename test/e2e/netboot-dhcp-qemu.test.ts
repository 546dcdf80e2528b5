/**
 * A real PXE client: an x86 qemu guest (software emulation, no KVM) whose e1000 option ROM
 * is Debian's iPXE (`ipxe-qemu`), on a tap device in a namespace this test creates, netboots
 * against picluster in full DHCP mode. It must get the OFFER and ACK (boot events) and then
 * send a TFTP read request for the boot file it was given. The TFTP server is the other half
 * of issue 3; a capture socket stands in for it here.
 *
 * iPXE identifies itself with option 77 "iPXE", so it is given `ipxeScriptUrl`; the test
 * sets that template to a tftp:// URL so the next step is observable as a TFTP RRQ, with
 * `${net0/mac}` expanded by iPXE itself.
 *
 * Timing seen here (2 shared cores, TCG): DISCOVER ~3 s after start, OFFER/ACK within 1 s,
 * RRQ ~15 s later — iPXE first waits for IPv6 router advertisements (its SLAAC
 * configurator runs alongside DHCP and times out), nothing DHCP-related.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDhcp } from '../../netboot/dhcp/codec.ts';
import { clientInfo } from '../../netboot/dhcp/options.ts';
import { existsSync } from 'node:fs';
import { HARNESS, inNs, Lab, netnsUnavailable, UDP_TOOL, uniqueName, which, type Proc } from './netboot-dhcp-netns.ts';

const ROM = '/usr/lib/ipxe/qemu/efi-e1000.rom';
const skipReason =
  netnsUnavailable() ??
  (which('qemu-system-x86_64') ? undefined : 'qemu-system-x86_64 is not installed (Debian package qemu-system-x86)') ??
  (existsSync(ROM) ? undefined : `${ROM} is missing (Debian package ipxe-qemu)`) ??
  (existsSync('/dev/net/tun') ? undefined : '/dev/net/tun is missing (tap devices)');

const SERVER = '10.213.5.1';
const MAC = '52:54:00:5e:0f:0a';
const BOOT_TIMEOUT_MS = 240_000; // SeaBIOS + iPXE under TCG on a shared 2-core machine

function rxDhcp(j: Record<string, unknown>): ReturnType<typeof decodeDhcp> | undefined {
  if (!('rx' in j)) return undefined;
  try {
    return decodeDhcp(Buffer.from((j.rx as { hex: string }).hex, 'hex'));
  } catch {
    return undefined;
  }
}

/** The x86 guest: SeaBIOS, then the e1000's iPXE ROM boots from the network. */
function startGuest(lab: Lab, ns: string, tap: string, mac: string): Proc {
  return lab.spawn(ns, 'qemu-system-x86_64', [
    '-machine',
    'pc',
    '-accel',
    'tcg',
    '-m',
    '128',
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
    '-boot',
    'order=n',
    '-netdev',
    `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    '-device',
    `e1000,netdev=n0,mac=${mac},romfile=${ROM}`,
  ]);
}

function isRrq(j: Record<string, unknown>): boolean {
  return 'rx' in j && (j.rx as { hex: string }).hex.startsWith('0001');
}

function rrqFile(j: { rx: { hex: string } }): string {
  return Buffer.from(j.rx.hex, 'hex').subarray(2).toString('latin1').split('\0')[0]!;
}

describe.skipIf(skipReason !== undefined)(`qemu x86 iPXE guest netboots from picluster (full mode)${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  const lab = new Lab();
  let server: Proc;
  let tftp: Proc;
  let discovers: Proc;
  let guest: Proc;

  beforeAll(async () => {
    const ns = lab.addNs('pcq');
    const tap = uniqueName('tq');
    inNs(ns, 'ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
    inNs(ns, 'ip', 'addr', 'add', `${SERVER}/24`, 'dev', tap);
    inNs(ns, 'ip', 'link', 'set', tap, 'up');

    server = lab.node(ns, HARNESS, [
      JSON.stringify({
        netboot: {
          serverAddress: SERVER,
          interface: tap,
          mode: 'full',
          clients: 'known',
          dhcp: { ipxeScriptUrl: 'tftp://{server}/ipxe/${net0/mac}', full: { rangeStart: '10.213.5.100', rangeEnd: '10.213.5.120' } },
        },
        nodes: [{ name: 'qemu-x86', mac: MAC, model: 'x86-64', approved: true }],
      }),
    ]);
    await server.waitJson((j) => 'ready' in j, 30_000, 'picluster dhcp ready');
    tftp = lab.node(ns, UDP_TOOL, [JSON.stringify({ bind: { address: SERVER, port: 69 } })]);
    await tftp.waitJson((j) => 'ready' in j, 20_000, 'tftp capture ready');
    // a second reader of port 67 broadcasts (SO_REUSEADDR): what the guest actually sent
    discovers = lab.node(ns, UDP_TOOL, [JSON.stringify({ bind: { address: '0.0.0.0', port: 67 } })]);
    await discovers.waitJson((j) => 'ready' in j, 20_000, 'discover capture ready');

    guest = startGuest(lab, ns, tap, MAC);
  }, 120_000);

  afterAll(() => lab.destroy(), 30_000);

  it(
    'iPXE sends a PXE DISCOVER identifying itself (options 60, 77 "iPXE", 93)',
    async () => {
      const j = await discovers.waitJson((x) => rxDhcp(x) !== undefined && clientInfo(rxDhcp(x)!).mac === MAC, BOOT_TIMEOUT_MS, 'the guest DISCOVER');
      const info = clientInfo(rxDhcp(j)!);
      expect(info.messageType).toBe('DISCOVER');
      expect(info.vendorClass).toMatch(/^PXEClient:Arch:00000:UNDI:/);
      expect(info.userClass).toContain('iPXE');
      expect(info.archs).toEqual([0]);
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'gets the OFFER and the ACK from picluster (boot events)',
    async () => {
      const offer = await server.waitJson<{ event: Record<string, unknown> }>(
        (j) => 'event' in j && (j.event as { kind: string; mac?: string }).kind === 'dhcp-discover' && (j.event as { mac?: string }).mac === MAC,
        BOOT_TIMEOUT_MS,
        'OFFER event',
      );
      expect(offer.event).toMatchObject({
        outcome: 'answered',
        node: 'qemu-x86',
        ip: '10.213.5.100',
        detail: { reply: 'OFFER', boot: 'tftp://10.213.5.1/ipxe/${net0/mac}', userClass: 'iPXE' },
      });
      const ack = await server.waitJson<{ event: Record<string, unknown> }>(
        (j) => 'event' in j && (j.event as { kind: string }).kind === 'dhcp-ack',
        BOOT_TIMEOUT_MS,
        'ACK event',
      );
      expect(ack.event).toMatchObject({ outcome: 'leased', mac: MAC, ip: '10.213.5.100' });
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  it(
    'then sends a TFTP read request for the boot file it was given',
    async () => {
      const rrq = await tftp.waitJson<{ rx: { from: string; hex: string } }>(isRrq, BOOT_TIMEOUT_MS, 'TFTP RRQ');
      expect(rrqFile(rrq)).toMatch(new RegExp(`ipxe/${MAC}$`));
      expect(rrq.rx.from).toBe('10.213.5.100');
    },
    BOOT_TIMEOUT_MS + 10_000,
  );

  afterAll(async () => {
    await guest?.stop();
  });
});

/**
 * The default mode: picluster as proxyDHCP beside another DHCP server (dnsmasq handing out
 * addresses only, no PXE), on one bridge:
 *
 *   [guest ns: bridge 10.213.6.1 (picluster proxy) + tap (qemu)] ──veth── [router ns: dnsmasq 10.213.6.2]
 *
 * Each guest must take its address from the router and its boot file from picluster's
 * proxy OFFER, and send the RRQ to picluster; its REQUEST to the router must not be
 * answered by picluster. Three guests: the x86 iPXE ROM (option 77 → the iPXE URL), x86-64
 * UEFI (OVMF, EDK2's own PXE, arch 7 → `bootFiles.x64Uefi`) and arm64 UEFI (EDK2
 * `QEMU_EFI.fd`, arch 11 → `bootFiles.arm64Uefi`). Unlike dnsmasq, which sends EFI clients
 * to port 4011 first, picluster puts the boot file in the proxy OFFER; EDK2 takes it.
 */
const AARCH64_FW = '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd';
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const routerSkip = skipReason ?? (which('dnsmasq') ? undefined : 'dnsmasq is not installed (Debian package dnsmasq)');

interface ProxyGuest {
  readonly name: string;
  readonly mac: string;
  readonly skip: string | undefined;
  /** What the guest must ask TFTP for. */
  readonly file: RegExp;
  readonly userClass?: string;
  readonly arch: number;
  start(lab: Lab, ns: string, tap: string, mac: string): Proc;
}

const PROXY_GUESTS: readonly ProxyGuest[] = [
  {
    name: 'x86 iPXE (BIOS)',
    mac: '52:54:00:5e:0f:0b',
    skip: routerSkip,
    file: /ipxe\/52:54:00:5e:0f:0b$/,
    userClass: 'iPXE',
    arch: 0,
    start: startGuest,
  },
  {
    name: 'x86-64 UEFI (OVMF)',
    mac: '52:54:00:5e:0f:0d',
    skip: routerSkip ?? (existsSync(OVMF_CODE) ? undefined : `${OVMF_CODE} is missing (Debian package ovmf)`),
    file: /^ipxe\.efi$/,
    arch: 7,
    start: (lab, ns, tap, mac) =>
      lab.spawn(ns, 'qemu-system-x86_64', [
        '-machine',
        'q35',
        '-accel',
        'tcg',
        '-m',
        '256',
        '-nodefaults',
        '-display',
        'none',
        '-serial',
        'none',
        '-monitor',
        'none',
        '-no-reboot',
        '-drive',
        `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
        '-netdev',
        `tap,id=n0,ifname=${tap},script=no,downscript=no`,
        // romfile= : no iPXE ROM, so EDK2's own PXE client does the boot
        '-device',
        `virtio-net-pci,netdev=n0,mac=${mac},romfile=`,
      ]),
  },
  {
    name: 'arm64 UEFI (EDK2)',
    mac: '52:54:00:5e:0f:0c',
    skip:
      routerSkip ??
      (which('qemu-system-aarch64') ? undefined : 'qemu-system-aarch64 is not installed (Debian package qemu-system-arm)') ??
      (existsSync(AARCH64_FW) ? undefined : `${AARCH64_FW} is missing (Debian package qemu-efi-aarch64)`),
    file: /^grubnetaa64\.efi$/,
    arch: 11,
    start: (lab, ns, tap, mac) =>
      lab.spawn(ns, 'qemu-system-aarch64', [
        '-machine',
        'virt',
        '-cpu',
        'cortex-a57',
        '-m',
        '512',
        '-nodefaults',
        '-display',
        'none',
        '-serial',
        'none',
        '-monitor',
        'none',
        '-no-reboot',
        '-bios',
        AARCH64_FW,
        '-netdev',
        `tap,id=n0,ifname=${tap},script=no,downscript=no`,
        // romfile= : no iPXE ROM, so EDK2's own PXE client does the boot
        '-device',
        `virtio-net-pci,netdev=n0,mac=${mac},romfile=`,
      ]),
  },
];

const PROXY = '10.213.6.1';

for (const g of PROXY_GUESTS) {
  describe.skipIf(g.skip !== undefined)(
    `qemu ${g.name} guest netboots from picluster in proxy mode beside a router${g.skip ? ` — skipped: ${g.skip}` : ''}`,
    () => {
      const lab = new Lab();
      let server: Proc;
      let tftp: Proc;
      let router: Proc;
      let guest: Proc;

      beforeAll(async () => {
        const ns = lab.addNs('pcp');
        const routerNs = lab.addNs('pcr');
        const br = uniqueName('br');
        const tap = uniqueName('tp');
        inNs(ns, 'ip', 'link', 'add', br, 'type', 'bridge');
        inNs(ns, 'ip', 'addr', 'add', `${PROXY}/24`, 'dev', br);
        inNs(ns, 'ip', 'link', 'set', br, 'up');
        inNs(ns, 'ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
        inNs(ns, 'ip', 'link', 'set', tap, 'master', br);
        inNs(ns, 'ip', 'link', 'set', tap, 'up');
        const uplink = lab.link({ ns: routerNs, addr: '10.213.6.2/24' }, { ns });
        inNs(ns, 'ip', 'link', 'set', uplink.b, 'master', br);

        router = lab.spawn(routerNs, 'dnsmasq', [
          '--keep-in-foreground',
          '--conf-file=/dev/null',
          '--port=0',
          `--interface=${uplink.a}`,
          '--bind-interfaces',
          '--dhcp-range=10.213.6.100,10.213.6.120,255.255.255.0,1h',
          '--log-dhcp',
          '--log-facility=-',
          `--pid-file=${lab.tmp(`${routerNs}.pid`)}`,
          `--dhcp-leasefile=${lab.tmp(`${routerNs}.leases`)}`,
          '--user=root',
        ]);
        await router.waitText(/DHCP, IP range 10\.213\.6\.100/, 20_000);

        server = lab.node(ns, HARNESS, [
          JSON.stringify({
            netboot: { serverAddress: PROXY, interface: br, mode: 'proxy', clients: 'known', dhcp: { ipxeScriptUrl: 'tftp://{server}/ipxe/${net0/mac}' } },
            nodes: [{ name: 'qemu-proxy', mac: g.mac, approved: true }],
          }),
        ]);
        await server.waitJson((j) => 'ready' in j, 30_000, 'picluster dhcp ready');
        tftp = lab.node(ns, UDP_TOOL, [JSON.stringify({ bind: { address: PROXY, port: 69 } })]);
        await tftp.waitJson((j) => 'ready' in j, 20_000, 'tftp capture ready');
        guest = g.start(lab, ns, tap, g.mac);
      }, 120_000);

      afterAll(async () => {
        await guest?.stop();
        await lab.destroy();
      }, 30_000);

      it(
        'picluster answers the DISCOVER with a proxy OFFER (no address)',
        async () => {
          const offer = await server.waitJson<{ event: Record<string, unknown> }>(
            (j) => 'event' in j && (j.event as { mac?: string }).mac === g.mac && (j.event as { outcome?: string }).outcome === 'answered',
            BOOT_TIMEOUT_MS,
            'proxy OFFER event',
          );
          expect(offer.event).toMatchObject({
            kind: 'dhcp-discover',
            node: 'qemu-proxy',
            detail: { mode: 'proxy', reply: 'OFFER', arch: g.arch, ...(g.userClass ? { userClass: g.userClass } : {}) },
          });
          expect(offer.event.ip).toBeUndefined();
        },
        BOOT_TIMEOUT_MS + 10_000,
      );

      it(
        'the guest takes its address from the router and its boot file from picluster',
        async () => {
          await router.waitText(new RegExp(`DHCPACK\\(\\S+\\) 10\\.213\\.6\\.1\\d\\d ${g.mac}`), BOOT_TIMEOUT_MS);
          const rrq = await tftp.waitJson<{ rx: { from: string; hex: string } }>(isRrq, BOOT_TIMEOUT_MS, 'TFTP RRQ to picluster');
          expect(rrqFile(rrq)).toMatch(g.file);
          expect(rrq.rx.from).toMatch(/^10\.213\.6\.1\d\d$/);
        },
        BOOT_TIMEOUT_MS + 10_000,
      );

      it(
        "the guest's REQUEST to the router was seen and not answered by picluster",
        async () => {
          const ignored = await server.waitJson<{ event: Record<string, unknown> }>(
            (j) => 'event' in j && (j.event as { detail?: { type?: string } }).detail?.type === 'REQUEST',
            BOOT_TIMEOUT_MS,
            'REQUEST event',
          );
          expect(ignored.event).toMatchObject({ kind: 'dhcp-ignored', reason: 'request-for-other-server', mac: g.mac });
          expect(server.json.some((j) => 'event' in j && (j.event as { detail?: { reply?: string } }).detail?.reply === 'ACK')).toBe(false);
        },
        BOOT_TIMEOUT_MS + 10_000,
      );
    },
  );
}
