/**
 * Test helpers for the DHCP half: request builders, a fake node directory, a decision
 * context. Used by the unit tests here and the e2e tests in test/e2e/netboot-dhcp-*.
 */
import type { NetbootNode, NodeDirectory } from '../node-directory.ts';
import { BOOTREQUEST, ipv4Bytes, type DhcpMessage, type DhcpOption } from './codec.ts';
import { dhcpConfig, type DhcpConfig } from './config.ts';
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

export function context(over: Partial<Omit<DecideContext, 'dhcp'>> & { dhcp?: Partial<DhcpConfig> } = {}): DecideContext {
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
