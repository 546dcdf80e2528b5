/**
 * Shared pieces of the pure DHCP decisions (decide.ts, full.ts): the decision types, who
 * may be answered, what a PXE client boots, how a reply is built and where it goes.
 *
 * Hand-written DHCP (not the npm `dhcp` package 0.2.20, which crashes on a Pi's DISCOVER,
 * has no proxy mode and ACKs requests meant for other servers): see codec.ts.
 */
import type { BootEvent, BootEventKind } from '../boot-event.ts';
import type { NetbootNode, NodeDirectory } from '../node-directory.ts';
import { BOOTREPLY, type DhcpMessage, type DhcpOption } from './codec.ts';
import type { DhcpConfig } from './config.ts';
import type { LeaseOp, LeaseView } from './leases.ts';
import { Opt, ipOption, opt, typeOption, type ClientInfo, type MessageTypeName } from './options.ts';
import { archOf, bootfileVendorOptions, isIpxe, ouiOf, piVendorOptions, type PiIdentity } from './pxe.ts';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface DecideContext {
  readonly mode: 'proxy' | 'full';
  readonly clients: 'known' | 'any';
  readonly enrollment: boolean;
  /** Our IPv4 on the boot interface: option 54, siaddr, `{server}` in the iPXE URL. */
  readonly serverAddress: string;
  readonly dhcp: DhcpConfig;
  readonly directory: Pick<NodeDirectory, 'findByMac' | 'findBySerial'>;
  readonly now: number;
  /** The socket the request came in on: the DHCP port (67) or the PXE port (4011). */
  readonly via: 'dhcp' | 'pxe';
  readonly source: Endpoint;
  /** Port relays listen on (where replies to `giaddr` go). */
  readonly serverPort: number;
  /** Full mode: current leases (read only; changes come back as `leaseOps`). */
  readonly leases?: LeaseView;
}

export interface EnrollRequest {
  readonly mac: string;
  readonly serial?: string;
  readonly vendorClass?: string;
  readonly arch?: number;
}

export type IgnoreReason =
  | 'not-a-request'
  | 'not-dhcp'
  | 'not-ethernet'
  | 'not-pxe-client'
  | 'no-client-arch'
  | 'unsupported-arch'
  | 'unknown-client'
  | 'pending-approval'
  | 'enrolled-pending-approval'
  | 'proxy-request'
  | 'request-for-other-server'
  | 'discover-on-pxe-port'
  | 'unsupported-message-type'
  | 'relayed'
  | 'pool-exhausted'
  | 'no-lease'
  | 'decline-for-other-server'
  | 'release-for-other-server';

export type Decision =
  | {
      readonly kind: 'reply';
      readonly message: DhcpMessage;
      readonly to: Endpoint;
      /** Wait this long before sending (Pi 3 boot ROM quirk, see config `replyDelayMs`). */
      readonly delayMs?: number;
      readonly event: BootEvent;
      readonly leaseOps?: readonly LeaseOp[];
    }
  | {
      readonly kind: 'ignore';
      readonly reason: IgnoreReason;
      /** Absent for traffic that is none of our business (non-PXE clients in proxy mode). */
      readonly event?: BootEvent;
      /** Enrollment: the server hands this to `directory.enroll`. */
      readonly enroll?: EnrollRequest;
      readonly leaseOps?: readonly LeaseOp[];
    }
  | {
      /** Full mode DECLINE/RELEASE: nothing to send, leases change. */
      readonly kind: 'record';
      readonly event: BootEvent;
      readonly leaseOps: readonly LeaseOp[];
    };

/** Everything the decisions learned about the client, computed once. */
export interface Subject {
  readonly request: DhcpMessage;
  readonly info: ClientInfo;
  readonly type: MessageTypeName;
  readonly pxe: boolean;
  readonly pi?: PiIdentity;
  readonly node?: NetbootNode;
  readonly serial?: string;
}

export type Admission = { readonly ok: true } | { readonly ok: false; readonly reason: IgnoreReason; readonly enroll?: EnrollRequest };

/** `clients: known|any` and enrollment (netboot config). */
export function admit(ctx: DecideContext, s: Subject): Admission {
  if (s.node) return s.node.approved ? { ok: true } : { ok: false, reason: 'pending-approval' };
  if (ctx.clients === 'any') return { ok: true };
  if (ctx.enrollment && s.pxe) {
    const enroll: { -readonly [K in keyof EnrollRequest]: EnrollRequest[K] } = { mac: s.info.mac };
    if (s.serial) enroll.serial = s.serial;
    if (s.info.vendorClass) enroll.vendorClass = s.info.vendorClass;
    if (s.info.archs[0] !== undefined) enroll.arch = s.info.archs[0];
    return { ok: false, reason: 'enrolled-pending-approval', enroll };
  }
  return { ok: false, reason: 'unknown-client' };
}

/** What a PXE client is told to boot. */
export type BootTarget =
  { readonly kind: 'pi'; readonly vendor: Buffer } | { readonly kind: 'file'; readonly file: string; readonly flavour: string; readonly vendor: Buffer };

export function bootTarget(ctx: DecideContext, s: Subject): BootTarget | IgnoreReason {
  if (s.pi) return { kind: 'pi', vendor: piVendorOptions(ctx.dhcp.menuText) };
  if (isIpxe(s.info, ctx.dhcp.ipxeUserClass)) {
    const url = ctx.dhcp.ipxeScriptUrl.replaceAll('{server}', ctx.serverAddress).replaceAll('{httpPort}', String(ctx.dhcp.httpPort));
    return { kind: 'file', file: url, flavour: 'ipxe', vendor: bootfileVendorOptions() };
  }
  if (s.info.archs.length === 0) return 'no-client-arch';
  const arch = archOf(s.info.archs[0]);
  if (!arch) return 'unsupported-arch';
  const file = arch === 'bios' ? ctx.dhcp.bootFiles.bios : arch === 'x64-uefi' ? ctx.dhcp.bootFiles.x64Uefi : ctx.dhcp.bootFiles.arm64Uefi;
  return { kind: 'file', file, flavour: arch, vendor: bootfileVendorOptions() };
}

/**
 * The PXE part of a reply: 60 = "PXEClient", 97 echoed unchanged, 43 — in dnsmasq's order
 * (rfc2131.c pxe_misc() then pxe_opts()). Header fields for a boot file: siaddr = us,
 * `file` = the name (option 67 as well when it does not fit the 128-byte field).
 */
export function pxeParts(ctx: DecideContext, s: Subject, target: BootTarget): { options: DhcpOption[]; siaddr: string; file: string } {
  const options: DhcpOption[] = [opt(Opt.VendorClass, 'PXEClient')];
  if (s.info.guid) options.push({ code: Opt.ClientGuid, data: s.info.guid });
  options.push({ code: Opt.VendorSpecific, data: target.vendor });
  // dnsmasq clears siaddr/sname/file for the Pi's menu-only reply (clear_packet()).
  if (target.kind === 'pi') return { options, siaddr: '0.0.0.0', file: '' };
  if (Buffer.byteLength(target.file, 'latin1') > 127) {
    options.push(opt(Opt.BootfileName, target.file));
    return { options, siaddr: ctx.serverAddress, file: '' };
  }
  return { options, siaddr: ctx.serverAddress, file: target.file };
}

export function baseReply(s: Subject, fields: Partial<DhcpMessage> & { options: DhcpOption[] }): DhcpMessage {
  const r = s.request;
  return {
    op: BOOTREPLY,
    htype: r.htype,
    hlen: r.hlen,
    hops: 0,
    xid: r.xid,
    secs: 0,
    flags: r.flags,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: r.giaddr,
    chaddr: r.chaddr,
    sname: '',
    file: '',
    ...fields,
  };
}

export function headOptions(type: MessageTypeName, ctx: DecideContext): DhcpOption[] {
  return [typeOption(type), ipOption(Opt.ServerId, ctx.serverAddress)];
}

/**
 * Where a reply goes (RFC 2131 §4.1): relayed → giaddr on the server port; NAK →
 * broadcast; client has an address (ciaddr) → unicast to it; otherwise broadcast. Node
 * cannot unicast to a client without an address (that needs an ARP entry, which dnsmasq
 * injects and we cannot), so we broadcast, which RFC 2131 allows. The PXE port answers
 * the sender directly.
 */
export function destination(ctx: DecideContext, s: Subject, type: MessageTypeName): Endpoint {
  const broadcast = { address: ctx.dhcp.broadcastAddress, port: ctx.dhcp.clientPort };
  if (ctx.via === 'pxe') return ctx.source.address === '0.0.0.0' ? broadcast : ctx.source;
  if (s.request.giaddr !== '0.0.0.0') return { address: s.request.giaddr, port: ctx.serverPort };
  if (type === 'NAK') return broadcast;
  if (s.request.ciaddr !== '0.0.0.0') return { address: s.request.ciaddr, port: ctx.dhcp.clientPort };
  return broadcast;
}

/** Pi 3 boot ROM quirk: optional per-OUI delay for replies to PXE clients (config `replyDelayMs`). */
export function replyDelay(ctx: DecideContext, s: Subject): number | undefined {
  if (!s.pxe) return undefined;
  const ms = ctx.dhcp.replyDelayMs[ouiOf(s.info.mac)];
  return ms && ms > 0 ? ms : undefined;
}

export function event(
  ctx: DecideContext,
  s: Subject | undefined,
  kind: BootEventKind,
  outcome: string,
  extra: { reason?: string; ip?: string; detail?: Record<string, string | number | boolean> } = {},
): BootEvent {
  const detail: Record<string, string | number | boolean> = { mode: ctx.mode, via: ctx.via };
  if (s) {
    detail.type = s.type;
    detail.xid = `0x${s.request.xid.toString(16).padStart(8, '0')}`;
    if (s.info.vendorClass) detail.vendorClass = s.info.vendorClass;
    if (s.info.archs[0] !== undefined) detail.arch = s.info.archs[0];
    if (s.info.userClass) detail.userClass = s.info.userClass;
    if (s.pi) detail.pi = s.pi.model;
  }
  Object.assign(detail, extra.detail);
  const e: { -readonly [K in keyof BootEvent]: BootEvent[K] } = { kind, at: ctx.now, outcome, detail };
  if (s) e.mac = s.info.mac;
  if (s?.serial) e.serial = s.serial;
  if (s?.node) e.node = s.node.name;
  if (extra.ip) e.ip = extra.ip;
  if (extra.reason) e.reason = extra.reason;
  return e;
}

export function ignore(ctx: DecideContext, s: Subject | undefined, reason: IgnoreReason, withEvent: boolean, enroll?: EnrollRequest): Decision {
  const d: { kind: 'ignore'; reason: IgnoreReason; event?: BootEvent; enroll?: EnrollRequest } = { kind: 'ignore', reason };
  if (withEvent) d.event = event(ctx, s, 'dhcp-ignored', 'ignored', { reason });
  if (enroll) d.enroll = enroll;
  return d;
}
