/**
 * DHCP option codes, typed accessors and builders (RFC 2132, RFC 4578, RFC 3004), plus a
 * JSON form of a message for golden fixtures and debug logs. Pure.
 *
 * Hand-written (not the npm `dhcp` package 0.2.20, which crashes on a Pi's DISCOVER, has no
 * proxy mode and ACKs requests meant for other servers): see codec.ts.
 */
import { macFromBytes } from '../../common/mac.ts';
import { decodeEncapsulated, ipv4Bytes, ipv4FromBytes, type DhcpMessage, type DhcpOption } from './codec.ts';

export const Opt = {
  SubnetMask: 1,
  Router: 3,
  DnsServers: 6,
  Hostname: 12,
  DomainName: 15,
  BroadcastAddress: 28,
  VendorSpecific: 43,
  RequestedIp: 50,
  LeaseTime: 51,
  MessageType: 53,
  ServerId: 54,
  ParamList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  TftpServerName: 66,
  BootfileName: 67,
  UserClass: 77,
  ClientArch: 93,
  ClientNdi: 94,
  ClientGuid: 97,
} as const;

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageTypeName = keyof typeof MessageType;

const TYPE_NAMES: readonly (MessageTypeName | undefined)[] = [undefined, 'DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'];

export function messageTypeName(type: number | undefined): MessageTypeName | undefined {
  return type === undefined ? undefined : TYPE_NAMES[type];
}

export function getOption(msg: DhcpMessage, code: number): Buffer | undefined {
  return msg.options.find((o) => o.code === code)?.data;
}

/** What a server needs to know about a client request, typed. */
export interface ClientInfo {
  readonly messageType?: MessageTypeName;
  /** `aa:bb:cc:dd:ee:ff` for Ethernet (htype 1, hlen 6); otherwise the hex of chaddr. */
  readonly mac: string;
  readonly clientId?: Buffer;
  readonly requestedIp?: string;
  readonly serverId?: string;
  readonly paramList: readonly number[];
  readonly vendorClass?: string;
  /** Option 77 as text (iPXE sends the raw string `iPXE`, not an RFC 3004 list). */
  readonly userClass?: string;
  /** Option 93, RFC 4578: a list of u16 architecture types; the first one is used. */
  readonly archs: readonly number[];
  readonly ndi?: string;
  /** Option 97, raw (Pi: `00` + 16 bytes). */
  readonly guid?: Buffer;
  readonly hostname?: string;
  readonly maxMessageSize?: number;
}

export function clientInfo(msg: DhcpMessage): ClientInfo {
  const type = getOption(msg, Opt.MessageType);
  const arch = getOption(msg, Opt.ClientArch);
  const archs: number[] = [];
  if (arch) for (let i = 0; i + 1 < arch.length; i += 2) archs.push(arch.readUInt16BE(i));
  const ndi = getOption(msg, Opt.ClientNdi);
  const mss = getOption(msg, Opt.MaxMessageSize);
  const info: { -readonly [K in keyof ClientInfo]: ClientInfo[K] } = {
    mac: msg.htype === 1 && msg.hlen === 6 ? macFromBytes(msg.chaddr) : msg.chaddr.subarray(0, msg.hlen).toString('hex'),
    paramList: [...(getOption(msg, Opt.ParamList) ?? [])],
    archs,
  };
  const typeName = messageTypeName(type?.[0]);
  if (typeName) info.messageType = typeName;
  const set = <K extends keyof ClientInfo>(k: K, v: ClientInfo[K] | undefined): void => {
    if (v !== undefined) info[k] = v;
  };
  set('clientId', getOption(msg, Opt.ClientId));
  set('requestedIp', ipOpt(msg, Opt.RequestedIp));
  set('serverId', ipOpt(msg, Opt.ServerId));
  set('vendorClass', getOption(msg, Opt.VendorClass)?.toString('latin1'));
  set('userClass', getOption(msg, Opt.UserClass)?.toString('latin1'));
  set('ndi', ndi ? `${ndi[0]}.${ndi[1]}.${ndi[2]}` : undefined);
  set('guid', getOption(msg, Opt.ClientGuid));
  set('hostname', getOption(msg, Opt.Hostname)?.toString('latin1'));
  set('maxMessageSize', mss?.readUInt16BE(0));
  return info;
}

function ipOpt(msg: DhcpMessage, code: number): string | undefined {
  const b = getOption(msg, code);
  return b ? ipv4FromBytes(b) : undefined;
}

// ---- builders --------------------------------------------------------------------------

export function opt(code: number, data: Buffer | string): DhcpOption {
  return { code, data: typeof data === 'string' ? Buffer.from(data, 'latin1') : data };
}

export function ipOption(code: number, ip: string): DhcpOption {
  const b = ipv4Bytes(ip);
  if (!b) throw new TypeError(`not an IPv4 address: ${ip}`);
  return { code, data: b };
}

export function ipListOption(code: number, ips: readonly string[]): DhcpOption {
  return { code, data: Buffer.concat(ips.map((ip) => ipOption(code, ip).data)) };
}

export function u32Option(code: number, v: number): DhcpOption {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return { code, data: b };
}

export function typeOption(type: MessageTypeName): DhcpOption {
  return { code: Opt.MessageType, data: Buffer.from([MessageType[type]]) };
}

// ---- JSON form (golden fixtures, debug logs) -------------------------------------------

export interface DhcpMessageJson {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: string;
  secs: number;
  flags: string;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  chaddr: string;
  sname: string;
  file: string;
  options: { code: number; hex: string; text?: string; sub?: { code: number; hex: string; text?: string }[] }[];
  info: {
    messageType?: string;
    mac: string;
    paramList: number[];
    vendorClass?: string;
    userClass?: string;
    archs: number[];
    ndi?: string;
    guid?: string;
    serverId?: string;
    requestedIp?: string;
  };
}

const TEXT_OPTIONS = new Set<number>([Opt.Hostname, Opt.DomainName, Opt.Message, Opt.VendorClass, Opt.UserClass, Opt.BootfileName, Opt.TftpServerName]);

/** A stable, readable JSON form: what the golden fixtures check in. */
export function messageToJson(msg: DhcpMessage): DhcpMessageJson {
  const info = clientInfo(msg);
  const out: DhcpMessageJson = {
    op: msg.op,
    htype: msg.htype,
    hlen: msg.hlen,
    hops: msg.hops,
    xid: `0x${msg.xid.toString(16).padStart(8, '0')}`,
    secs: msg.secs,
    flags: `0x${msg.flags.toString(16).padStart(4, '0')}`,
    ciaddr: msg.ciaddr,
    yiaddr: msg.yiaddr,
    siaddr: msg.siaddr,
    giaddr: msg.giaddr,
    chaddr: msg.chaddr.toString('hex'),
    sname: msg.sname,
    file: msg.file,
    options: msg.options.map((o) => {
      const j: DhcpMessageJson['options'][number] = { code: o.code, hex: o.data.toString('hex') };
      if (TEXT_OPTIONS.has(o.code)) j.text = o.data.toString('latin1');
      if (o.code === Opt.VendorSpecific) {
        try {
          j.sub = decodeEncapsulated(o.data).map((s) => ({ code: s.code, hex: s.data.toString('hex') }));
        } catch {
          // not TLV-encoded (fw#764 shows a bare string); the hex above is the whole truth
        }
      }
      return j;
    }),
    info: { mac: info.mac, paramList: [...info.paramList], archs: [...info.archs] },
  };
  if (info.messageType) out.info.messageType = info.messageType;
  if (info.vendorClass !== undefined) out.info.vendorClass = info.vendorClass;
  if (info.userClass !== undefined) out.info.userClass = info.userClass;
  if (info.ndi) out.info.ndi = info.ndi;
  if (info.guid) out.info.guid = info.guid.toString('hex');
  if (info.serverId) out.info.serverId = info.serverId;
  if (info.requestedIp) out.info.requestedIp = info.requestedIp;
  return out;
}
