/**
 * Who answers a PXE client on this segment: broadcast one DHCPDISCOVER shaped like a Pi's
 * (option 60 `PXEClient:Arch:00000:UNDI:002001`, option 93 = 0, broadcast flag) from port 68
 * and collect every OFFER for `listenMs`. `discoverPacket` and `classifyOffer` are pure; the
 * probe binds port 68 on the boot interface (root or CAP_NET_BIND_SERVICE + CAP_NET_RAW).
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { BOOTREQUEST, BROADCAST_FLAG, decodeDhcp, encodeDhcp, type DhcpMessage } from '../../netboot/dhcp/codec.ts';
import { getOption, messageTypeName, Opt, opt, typeOption } from '../../netboot/dhcp/options.ts';
import type { DhcpAnswer } from './checks.ts';

/** A locally administered MAC so no real node's lease is touched. */
export const PROBE_MAC = Buffer.from([0x02, 0x70, 0x63, 0x64, 0x6f, 0x63]);

export function discoverPacket(xid: number, mac: Buffer = PROBE_MAC): Buffer {
  const chaddr = Buffer.alloc(16);
  mac.copy(chaddr);
  const msg: DhcpMessage = {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    flags: BROADCAST_FLAG,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: [
      typeOption('DISCOVER'),
      opt(Opt.ParamList, Buffer.from([1, 3, 43, 54, 60, 66, 67])),
      opt(Opt.ClientArch, Buffer.from([0, 0])),
      opt(Opt.ClientNdi, Buffer.from([1, 2, 1])),
      opt(Opt.VendorClass, 'PXEClient:Arch:00000:UNDI:002001'),
    ],
  };
  return encodeDhcp(msg);
}

/** An OFFER for our xid, as a DhcpAnswer; undefined for anything else. */
export function classifyOffer(buf: Buffer, xid: number, from: string): DhcpAnswer | undefined {
  let m: DhcpMessage;
  try {
    m = decodeDhcp(buf);
  } catch {
    return undefined;
  }
  if (m.op !== 2 || m.xid !== xid || messageTypeName(getOption(m, Opt.MessageType)?.[0]) !== 'OFFER') return undefined;
  const serverId = getOption(m, Opt.ServerId);
  const server = serverId?.length === 4 ? [...serverId].join('.') : from;
  const vendor = getOption(m, Opt.VendorClass)?.toString('latin1') ?? '';
  const bootFile = getOption(m, Opt.BootfileName)?.toString('latin1').replace(/\0+$/, '') || m.file || undefined;
  // siaddr alone is no boot offer: dnsmasq and many routers always put themselves there.
  const pxe = vendor.startsWith('PXEClient') || getOption(m, Opt.VendorSpecific) !== undefined || !!bootFile;
  return { server, yiaddr: m.yiaddr, pxe, ...(bootFile ? { bootFile } : {}) };
}

/** Listens `listenMs` (default 4 s) for OFFERs. */
export async function probeDhcp(
  options: { broadcast?: string; listenMs?: number; port?: number; serverPort?: number } = {},
): Promise<DhcpAnswer[] | { error: string }> {
  const xid = randomBytes(4).readUInt32BE(0);
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const answers = new Map<string, DhcpAnswer>();
  socket.on('message', (buf, rinfo) => {
    const a = classifyOffer(buf, xid, rinfo.address);
    if (a && !answers.has(a.server)) answers.set(a.server, a);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: options.port ?? 68, address: '0.0.0.0' }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setBroadcast(true);
    // Sent to the boot interface's directed broadcast (10.0.0.255 on a /24) so it leaves through
    // that interface on a multi-homed master; servers bound to 0.0.0.0:67 receive it like a limited
    // broadcast, and their broadcast OFFERs reach this socket bound to 0.0.0.0:68.
    await new Promise<void>((resolve, reject) =>
      socket.send(discoverPacket(xid), options.serverPort ?? 67, options.broadcast ?? '255.255.255.255', (err) => (err ? reject(err) : resolve())),
    );
    // Servers that ping-check an address first (dnsmasq, many routers) answer after 1–3 s, or only
    // to a repeated DISCOVER, as a real client sends: one more at half time.
    const listenMs = options.listenMs ?? 4000;
    await new Promise((r) => setTimeout(r, listenMs / 2));
    socket.send(discoverPacket(xid), options.serverPort ?? 67, options.broadcast ?? '255.255.255.255');
    await new Promise((r) => setTimeout(r, listenMs / 2));
    return [...answers.values()];
  } catch (e) {
    return { error: (e as Error).message };
  } finally {
    socket.close();
  }
}
