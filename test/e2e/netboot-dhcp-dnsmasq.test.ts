/**
 * Differential test: Debian's dnsmasq as a peer in proxy mode with
 * `pxe-service=0,"Raspberry Pi Boot"` (what boots real Pis, DOC-TUT) versus picluster's
 * proxy, both on the same address in a namespace this test creates. For each Pi DISCOVER
 * fixture, sent from a second namespace, the OFFERs must agree: same options in the same
 * order with the same values, same header fields, same size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDhcp, type DhcpMessage } from '../../netboot/dhcp/codec.ts';
import { loadHex, PI_DISCOVER_FIXTURES } from '../../netboot/dhcp/fixtures/load.ts';
import { HARNESS, inNs, Lab, netnsUnavailable, UDP_TOOL, which, type Proc } from './netboot-dhcp-netns.ts';

const skipReason = netnsUnavailable() ?? (which('dnsmasq') ? undefined : 'dnsmasq is not installed (Debian package dnsmasq)');
const SERVER = '10.213.1.1';

interface Offer {
  bytes: Buffer;
  msg: DhcpMessage;
}

/** Sends each fixture from the client namespace and collects the first OFFER for its xid/chaddr. */
async function collectOffers(lab: Lab, clientNs: string, timeoutMs: number): Promise<Map<string, Offer>> {
  const client: Proc = lab.node(clientNs, UDP_TOOL, [JSON.stringify({ bind: { address: '0.0.0.0', port: 68 } })]);
  await client.waitJson((j) => 'ready' in j, 20_000, 'udp tool ready');
  const offers = new Map<string, Offer>();
  for (const name of PI_DISCOVER_FIXTURES) {
    const req = decodeDhcp(loadHex(name));
    client.write(JSON.stringify({ send: { hex: loadHex(name).toString('hex'), address: '255.255.255.255', port: 67 } }));
    const rx = await client.waitJson<{ rx: { hex: string } }>(
      (j) => {
        if (!('rx' in j)) return false;
        try {
          const m = decodeDhcp(Buffer.from((j.rx as { hex: string }).hex, 'hex'));
          return m.op === 2 && m.xid === req.xid && m.chaddr.equals(req.chaddr);
        } catch {
          return false;
        }
      },
      timeoutMs,
      `an OFFER for ${name}`,
    );
    const bytes = Buffer.from(rx.rx.hex, 'hex');
    offers.set(name, { bytes, msg: decodeDhcp(bytes) });
  }
  await client.stop();
  return offers;
}

describe.skipIf(skipReason !== undefined)(`dnsmasq differential (proxy mode)${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  const lab = new Lab();
  let dnsmasqOffers: Map<string, Offer>;
  let picOffers: Map<string, Offer>;

  beforeAll(async () => {
    const server = lab.addNs('pcds');
    const client = lab.addNs('pcdc');
    const { a: serverIf, b: clientIf } = lab.link({ ns: server, addr: `${SERVER}/24` }, { ns: client });
    // the client has no address, like a Pi boot ROM; a device route lets it broadcast
    inNs(client, 'ip', 'route', 'add', 'default', 'dev', clientIf);

    const dnsmasq = lab.spawn(server, 'dnsmasq', [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      `--interface=${serverIf}`,
      '--bind-interfaces',
      '--dhcp-range=10.213.1.0,proxy',
      '--pxe-service=0,Raspberry Pi Boot', // argv, no shell: no quotes
      '--log-dhcp',
      '--log-facility=-',
      `--pid-file=${lab.tmp(`${server}.pid`)}`,
      `--dhcp-leasefile=${lab.tmp(`${server}.leases`)}`,
      '--user=root',
    ]);
    await dnsmasq.waitText(/proxy on subnet 10\.213\.1\.0/, 20_000);
    dnsmasqOffers = await collectOffers(lab, client, 10_000);
    await dnsmasq.stop();

    const pic = lab.node(server, HARNESS, [JSON.stringify({ netboot: { serverAddress: SERVER, interface: serverIf, mode: 'proxy', clients: 'any' } })]);
    await pic.waitJson((j) => 'ready' in j, 30_000, 'picluster dhcp ready');
    picOffers = await collectOffers(lab, client, 10_000);
    await pic.stop();
  }, 120_000);

  afterAll(() => lab.destroy(), 30_000);

  it.each(PI_DISCOVER_FIXTURES)('%s: same options, same order, same values', (name) => {
    const d = dnsmasqOffers.get(name)!.msg;
    const p = picOffers.get(name)!.msg;
    const view = (m: DhcpMessage): [number, string][] => m.options.map((o) => [o.code, o.data.toString('hex')]);
    expect(view(p)).toEqual(view(d));
    // the facts the Pi depends on, asserted outright so a change in both cannot pass silently
    expect(d.options.map((o) => o.code)).toEqual([53, 54, 60, 97, 43]);
  });

  it.each(PI_DISCOVER_FIXTURES)('%s: same header fields and size', (name) => {
    const d = dnsmasqOffers.get(name)!;
    const p = picOffers.get(name)!;
    const header = (m: DhcpMessage): unknown => ({ ...m, options: undefined });
    expect(header(p.msg)).toEqual(header(d.msg));
    expect(p.bytes.length).toBe(d.bytes.length);
  });
});
