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

describe.skipIf(skipReason !== undefined)(`qemu x86 iPXE guest netboots from picluster${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
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

    guest = lab.spawn(ns, 'qemu-system-x86_64', [
      '-machine', 'pc',
      '-accel', 'tcg',
      '-m', '128',
      '-nodefaults',
      '-display', 'none',
      '-serial', 'none',
      '-monitor', 'none',
      '-no-reboot',
      '-boot', 'order=n',
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
      '-device', `e1000,netdev=n0,mac=${MAC},romfile=${ROM}`,
    ]);
  }, 120_000);

  afterAll(() => lab.destroy(), 30_000);

  it('iPXE sends a PXE DISCOVER identifying itself (options 60, 77 "iPXE", 93)', async () => {
    const j = await discovers.waitJson((x) => rxDhcp(x) !== undefined && clientInfo(rxDhcp(x)!).mac === MAC, BOOT_TIMEOUT_MS, 'the guest DISCOVER');
    const info = clientInfo(rxDhcp(j)!);
    expect(info.messageType).toBe('DISCOVER');
    expect(info.vendorClass).toMatch(/^PXEClient:Arch:00000:UNDI:/);
    expect(info.userClass).toContain('iPXE');
    expect(info.archs).toEqual([0]);
  }, BOOT_TIMEOUT_MS + 10_000);

  it('gets the OFFER and the ACK from picluster (boot events)', async () => {
    const offer = await server.waitJson<{ event: Record<string, unknown> }>((j) => 'event' in j && (j.event as { kind: string; mac?: string }).kind === 'dhcp-discover' && (j.event as { mac?: string }).mac === MAC, BOOT_TIMEOUT_MS, 'OFFER event');
    expect(offer.event).toMatchObject({ outcome: 'answered', node: 'qemu-x86', ip: '10.213.5.100', detail: { reply: 'OFFER', boot: 'tftp://10.213.5.1/ipxe/${net0/mac}', userClass: 'iPXE' } });
    const ack = await server.waitJson<{ event: Record<string, unknown> }>((j) => 'event' in j && (j.event as { kind: string }).kind === 'dhcp-ack', BOOT_TIMEOUT_MS, 'ACK event');
    expect(ack.event).toMatchObject({ outcome: 'leased', mac: MAC, ip: '10.213.5.100' });
  }, BOOT_TIMEOUT_MS + 10_000);

  it('then sends a TFTP read request for the boot file it was given', async () => {
    const rrq = await tftp.waitJson<{ rx: { from: string; hex: string } }>((j) => 'rx' in j && (j.rx as { hex: string }).hex.startsWith('0001'), BOOT_TIMEOUT_MS, 'TFTP RRQ');
    const body = Buffer.from(rrq.rx.hex, 'hex');
    const [file] = body.subarray(2).toString('latin1').split('\0');
    expect(file).toMatch(new RegExp(`ipxe/${MAC}$`));
    expect(rrq.rx.from).toBe('10.213.5.100');
  }, BOOT_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    await guest?.stop();
  });
});
