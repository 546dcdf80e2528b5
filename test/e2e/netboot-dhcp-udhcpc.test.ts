/**
 * Interop: busybox udhcpc, posing as a Pi 4 (Pi MAC OUI, vendor class
 * `PXEClient:Arch:00000:UNDI:002001`, options 93/94/97), in a namespace this test creates,
 * gets picluster's proxy OFFER. A proxy gives no address, so udhcpc itself can only go on
 * to a REQUEST that the proxy (like dnsmasq) does not answer; we assert on the OFFER seen by
 * a capture socket beside udhcpc, on udhcpc's own log, and on picluster's boot event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDhcp, type DhcpMessage } from '../../netboot/dhcp/codec.ts';
import { clientInfo, getOption, Opt } from '../../netboot/dhcp/options.ts';
import { HARNESS, inNs, Lab, netnsUnavailable, UDP_TOOL, which, type Proc } from './netboot-dhcp-netns.ts';

const skipReason = netnsUnavailable() ?? (which('busybox') ? undefined : 'busybox is not installed (Debian package busybox)');
const SERVER = '10.213.2.1';
const MAC = 'dc:a6:32:5e:0f:01';
const GUID = `00${Buffer.from('RPi4').toString('hex')}1131c000325e0f01b99beb89`;

describe.skipIf(skipReason !== undefined)(`busybox udhcpc gets the proxy OFFER${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  const lab = new Lab();
  let offer: DhcpMessage;
  let udhcpc: Proc;
  let server: Proc;

  beforeAll(async () => {
    const sNs = lab.addNs('pcus');
    const cNs = lab.addNs('pcuc');
    const { a: serverIf, b: clientIf } = lab.link({ ns: sNs, addr: `${SERVER}/24` }, { ns: cNs });
    inNs(cNs, 'ip', 'link', 'set', 'dev', clientIf, 'address', MAC);
    inNs(cNs, 'ip', 'route', 'add', 'default', 'dev', clientIf);

    server = lab.node(sNs, HARNESS, [JSON.stringify({ netboot: { serverAddress: SERVER, interface: serverIf, mode: 'proxy', clients: 'any' } })]);
    await server.waitJson((j) => 'ready' in j, 30_000, 'picluster dhcp ready');
    const capture = lab.node(cNs, UDP_TOOL, [JSON.stringify({ bind: { address: '0.0.0.0', port: 68 } })]);
    await capture.waitJson((j) => 'ready' in j, 20_000, 'capture socket ready');

    udhcpc = lab.spawn(cNs, 'busybox', [
      'udhcpc',
      '-f', // foreground
      '-n', // exit when no lease (a proxy never gives one)
      '-t',
      '4',
      '-T',
      '1',
      '-i',
      clientIf,
      '-s',
      '/bin/true',
      '-V',
      'PXEClient:Arch:00000:UNDI:002001',
      '-x',
      '0x5d:0000', // option 93: arch 0, as every Pi sends
      '-x',
      '0x5e:010201', // option 94: UNDI 1.2.1
      '-x',
      `0x61:${GUID}`, // option 97: Pi 4 GUID
    ]);
    const rx = await capture.waitJson<{ rx: { hex: string } }>(
      (j) => {
        if (!('rx' in j)) return false;
        try {
          const m = decodeDhcp(Buffer.from((j.rx as { hex: string }).hex, 'hex'));
          return m.op === 2 && clientInfo(m).mac === MAC;
        } catch {
          return false;
        }
      },
      30_000,
      'an OFFER for udhcpc',
    );
    offer = decodeDhcp(Buffer.from(rx.rx.hex, 'hex'));
  }, 120_000);

  afterAll(() => lab.destroy(), 30_000);

  it('the OFFER is the Pi proxy reply: 53=2, 54, 60, 97 echoed, 43 with the Pi menu; no address', () => {
    expect(offer.options.map((o) => o.code)).toEqual([53, 54, 60, 97, 43]);
    expect(getOption(offer, Opt.MessageType)?.[0]).toBe(2);
    expect(getOption(offer, Opt.ServerId)?.toString('hex')).toBe('0ad50201');
    expect(getOption(offer, Opt.ClientGuid)?.toString('hex')).toBe(GUID);
    expect(getOption(offer, Opt.VendorSpecific)?.toString('latin1')).toContain('Raspberry Pi Boot');
    expect(offer.yiaddr).toBe('0.0.0.0');
    expect(offer.flags & 0x8000).toBe(0x8000);
  });

  it('udhcpc received it (its log names the proxy as the offering server)', async () => {
    await udhcpc.waitText(/(offer from|select for)/i, 30_000);
  }, 60_000);

  it('picluster recorded a boot event for the udhcpc MAC, recognised as a Pi 4', async () => {
    const e = await server.waitJson<{ event: Record<string, unknown> }>((j) => 'event' in j && (j.event as { mac?: string }).mac === MAC, 10_000, 'boot event');
    expect(e.event).toMatchObject({ kind: 'dhcp-discover', outcome: 'answered', serial: '89eb9bb9', detail: { pi: 'pi4' } });
  }, 30_000);
});
