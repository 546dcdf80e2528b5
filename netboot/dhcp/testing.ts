/**
 * Test helpers for the DHCP half: request builders, a fake node directory, a decision
 * context, a hostile corpus. Used by the unit tests here and the e2e tests in
 * test/e2e/netboot-dhcp-*. (DHCP is hand-written rather than the npm `dhcp` package 0.2.20,
 * which crashes on a Pi's DISCOVER, has no proxy mode and ACKs requests meant for other
 * servers: see codec.ts.)
 */
import type { NetbootNode, NodeDirectory } from '../node-directory.ts';
import { BOOTREQUEST, ipv4Bytes, type DhcpMessage, type DhcpOption } from './codec.ts';
import { dhcpConfig, type DhcpConfigInput } from './config.ts';
import type { DecideContext } from './decide.ts';
import { MessageType, Opt, type MessageTypeName } from './options.ts';

export const PI_VENDOR_CLASS = 'PXEClient:Arch:00000:UNDI:002001';

export interface RequestSpec {
  type?: MessageTypeName;
  mac?: string;
  xid?: number;
  flags?: number;
  ciaddr?: string;
  giaddr?: string;
  vendorClass?: string;
  userClass?: string;
  arch?: number;
  guid?: Buffer;
  clientId?: Buffer;
  requestedIp?: string;
  serverId?: string;
  hostname?: string;
  extra?: DhcpOption[];
}

export function request(spec: RequestSpec = {}): DhcpMessage {
  const mac = spec.mac ?? '52:54:00:12:34:56';
  const chaddr = Buffer.alloc(16);
  Buffer.from(mac.replaceAll(':', ''), 'hex').copy(chaddr);
  const options: DhcpOption[] = [{ code: Opt.MessageType, data: Buffer.from([MessageType[spec.type ?? 'DISCOVER']]) }];
  if (spec.clientId) options.push({ code: Opt.ClientId, data: spec.clientId });
  if (spec.requestedIp) options.push({ code: Opt.RequestedIp, data: ipv4Bytes(spec.requestedIp)! });
  if (spec.serverId) options.push({ code: Opt.ServerId, data: ipv4Bytes(spec.serverId)! });
  if (spec.hostname) options.push({ code: Opt.Hostname, data: Buffer.from(spec.hostname) });
  if (spec.arch !== undefined) {
    const a = Buffer.alloc(2);
    a.writeUInt16BE(spec.arch);
    options.push({ code: Opt.ClientArch, data: a });
  }
  if (spec.guid) options.push({ code: Opt.ClientGuid, data: spec.guid });
  if (spec.vendorClass) options.push({ code: Opt.VendorClass, data: Buffer.from(spec.vendorClass) });
  if (spec.userClass) options.push({ code: Opt.UserClass, data: Buffer.from(spec.userClass) });
  options.push(...(spec.extra ?? []));
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: spec.xid ?? 0x01020304,
    secs: 0,
    flags: spec.flags ?? 0,
    ciaddr: spec.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: spec.giaddr ?? '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options,
  };
}

/** A PXE DISCOVER as an x86 BIOS / UEFI firmware or iPXE sends it. */
export function pxeRequest(spec: RequestSpec = {}): DhcpMessage {
  return request({ vendorClass: PI_VENDOR_CLASS, arch: 0, ...spec });
}

export class FakeDirectory implements NodeDirectory {
  readonly enrolled: Parameters<NonNullable<NodeDirectory['enroll']>>[0][] = [];
  constructor(public nodes: NetbootNode[] = []) {}
  findByMac(mac: string): NetbootNode | undefined {
    return this.nodes.find((n) => n.mac === mac);
  }
  findBySerial(serial: string): NetbootNode | undefined {
    return this.nodes.find((n) => n.serial === serial);
  }
  enroll(client: { mac: string; serial?: string; vendorClass?: string; arch?: number }): void {
    this.enrolled.push(client);
  }
}

export const SERVER = '10.213.0.1';

export function context(over: Partial<Omit<DecideContext, 'dhcp'>> & { dhcp?: DhcpConfigInput } = {}): DecideContext {
  const { dhcp, ...rest } = over;
  return {
    mode: 'proxy',
    clients: 'any',
    enrollment: false,
    serverAddress: SERVER,
    dhcp: dhcpConfig(dhcp),
    directory: new FakeDirectory(),
    now: 1_700_000_000_000,
    via: 'dhcp',
    source: { address: '0.0.0.0', port: 68 },
    serverPort: 67,
    ...rest,
  };
}

/**
 * Hostile datagrams, deterministic (seeded): truncations of real packets, garbage, bit
 * flips, broken option lengths, oversized datagrams. Each entry names itself.
 */
export function hostileCorpus(seeds: readonly Buffer[]): { name: string; bytes: Buffer }[] {
  let state = 0x2545f491;
  const rand = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x100000000;
  };
  const out: { name: string; bytes: Buffer }[] = [];
  seeds.forEach((seed, si) => {
    for (let len = 0; len < seed.length; len += len < 250 ? 7 : 1) out.push({ name: `seed${si} truncated to ${len}`, bytes: seed.subarray(0, len) });
    for (let i = 0; i < 40; i++) {
      const b = Buffer.from(seed);
      const at = Math.floor(rand() * b.length);
      b[at] = b[at]! ^ (1 << Math.floor(rand() * 8));
      out.push({ name: `seed${si} bit flip at ${at}`, bytes: b });
    }
    for (let at = 240; at < seed.length; at++) {
      const b = Buffer.from(seed);
      b[at] = 0xfe; // every byte of the options area in turn becomes a huge length / odd code
      out.push({ name: `seed${si} options byte ${at} = 0xfe`, bytes: b });
    }
  });
  for (const len of [1, 4, 100, 235, 236, 239, 240, 241, 300, 576, 1500, 9000, 65507]) {
    out.push({ name: `garbage ${len}`, bytes: Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256))) });
    out.push({ name: `0xff x ${len}`, bytes: Buffer.alloc(len, 0xff) });
  }
  const head = Buffer.from(seeds[0] ?? Buffer.alloc(240)).subarray(0, 240);
  out.push({ name: 'oversized: 60000 pad options', bytes: Buffer.concat([head, Buffer.alloc(60000, 0), Buffer.from([53, 1, 1, 255])]) });
  out.push({
    name: 'oversized: 250 option-43 instances (RFC 3396 concat to 63 KB)',
    bytes: Buffer.concat([
      head,
      Buffer.from([53, 1, 1]),
      ...Array.from({ length: 250 }, () => Buffer.concat([Buffer.from([43, 255]), Buffer.alloc(255, 1)])),
      Buffer.from([255]),
    ]),
  });
  return out;
}
