/**
 * The send-socket binding (server.ts): a limited broadcast (255.255.255.255) sent from a
 * socket bound to the boot interface's address leaves by the boot interface, even when the
 * default route is on another one. Set-up, all in namespaces this test creates:
 *
 *   [boot client ns] ──veth── [server ns: boot if 10.213.3.1/24, uplink 10.213.4.1/24,
 *                                          default route via 10.213.4.2] ──veth── [uplink ns]
 *
 * A Pi DISCOVER from the boot side must be answered on the boot side. For the negative,
 * without sleeping: after the OFFER arrived, a marker broadcast is sent in the server
 * namespace from an unbound socket; it follows the default route to the uplink namespace
 * (which also proves the set-up can tell the difference), and when it arrives there, no
 * OFFER may have arrived before it (same link, FIFO).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDhcp } from '../../netboot/dhcp/codec.ts';
import { loadHex } from '../../netboot/dhcp/fixtures/load.ts';
import { HARNESS, inNs, Lab, netnsUnavailable, UDP_TOOL, type Proc } from './netboot-dhcp-netns.ts';

const skipReason = netnsUnavailable();
const MARKER = Buffer.from('picluster-marker').toString('hex');

function isOffer(j: Record<string, unknown>, xid: number): boolean {
  if (!('rx' in j)) return false;
  try {
    const m = decodeDhcp(Buffer.from((j.rx as { hex: string }).hex, 'hex'));
    return m.op === 2 && m.xid === xid;
  } catch {
    return false;
  }
}

describe.skipIf(skipReason !== undefined)(`broadcast replies leave by the boot interface${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  const lab = new Lab();
  let bootCapture: Proc;
  let uplinkCapture: Proc;
  let serverNs: string;
  const xid = decodeDhcp(loadHex('pi4-discover')).xid;

  beforeAll(async () => {
    serverNs = lab.addNs('pcbs');
    const bootNs = lab.addNs('pcbb');
    const uplinkNs = lab.addNs('pcbu');
    const boot = lab.link({ ns: serverNs, addr: '10.213.3.1/24' }, { ns: bootNs });
    lab.link({ ns: serverNs, addr: '10.213.4.1/24' }, { ns: uplinkNs, addr: '10.213.4.2/24' });
    inNs(serverNs, 'ip', 'route', 'add', 'default', 'via', '10.213.4.2');
    inNs(bootNs, 'ip', 'route', 'add', 'default', 'dev', boot.b);

    const server = lab.node(serverNs, HARNESS, [JSON.stringify({ netboot: { serverAddress: '10.213.3.1', interface: boot.a, clients: 'any' } })]);
    await server.waitJson((j) => 'ready' in j, 30_000, 'picluster dhcp ready');
    uplinkCapture = lab.node(uplinkNs, UDP_TOOL, [JSON.stringify({ bind: { address: '0.0.0.0', port: 68 } })]);
    await uplinkCapture.waitJson((j) => 'ready' in j, 20_000, 'uplink capture ready');
    bootCapture = lab.node(bootNs, UDP_TOOL, [
      JSON.stringify({
        bind: { address: '0.0.0.0', port: 68 },
        send: [{ hex: loadHex('pi4-discover').toString('hex'), address: '255.255.255.255', port: 67 }],
      }),
    ]);
  }, 120_000);

  afterAll(() => lab.destroy(), 30_000);

  it('the OFFER arrives on the boot interface side', async () => {
    await bootCapture.waitJson((j) => isOffer(j, xid), 20_000, 'OFFER on the boot side');
  }, 60_000);

  it('and not on the default-route side (an unbound broadcast does go there)', async () => {
    await bootCapture.waitJson((j) => isOffer(j, xid), 20_000, 'OFFER on the boot side');
    const marker = lab.node(serverNs, UDP_TOOL, [
      JSON.stringify({ bind: { address: '0.0.0.0', port: 0 }, send: [{ hex: MARKER, address: '255.255.255.255', port: 68 }] }),
    ]);
    await marker.waitJson((j) => 'sent' in j, 20_000, 'marker sent');
    await uplinkCapture.waitJson((j) => 'rx' in j && (j.rx as { hex: string }).hex === MARKER, 20_000, 'marker on the uplink side');
    const before = uplinkCapture.json.filter((j) => 'rx' in j);
    expect(before.map((j) => (j.rx as { hex: string }).hex)).toEqual([MARKER]);
    expect(bootCapture.json.some((j) => 'rx' in j && (j.rx as { hex: string }).hex === MARKER)).toBe(false);
  }, 90_000);
});
