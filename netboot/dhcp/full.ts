/**
 * Full DHCP mode (`netboot.mode: full`), for an isolated cluster LAN: addresses from a
 * range, reservations from the node directory (`NetbootNode.ipv4`), leases read from a
 * `LeaseView` and changed only through returned `LeaseOp`s. Pure. PXE clients get the same
 * PXE options as in proxy mode on top of their address.
 *
 * Hand-written (not the npm `dhcp` package 0.2.20, which crashes on a Pi's DISCOVER, has no
 * proxy mode and ACKs requests meant for other servers): see codec.ts.
 *
 * RFC 2131 §4.3 as implemented here:
 * - DISCOVER → OFFER (reservation, else the client's previous address, else the requested
 *   one, else the first free one); the address is held `offerHoldMs` — for a full lease
 *   when the client is a Pi 3 ROM, which never sends a REQUEST.
 * - REQUEST, SELECTING (option 54 present): for another server → ignored, and our offer to
 *   that client is withdrawn (§4.3.2); for us → ACK if option 50 is what we offered, else NAK.
 * - REQUEST, INIT-REBOOT (no 54, option 50, ciaddr 0): off our subnet → NAK; we hold a
 *   different address for this client → NAK; same → ACK; no record → silent (§4.3.2 "MUST
 *   remain silent").
 * - REQUEST, RENEWING/REBINDING (ciaddr set): ours → ACK with a fresh lease; off our subnet
 *   or bound to another client or not this client's reservation → NAK; no record → silent.
 * - DECLINE (for us): the address is kept out of the pool for `declineHoldMs`.
 * - RELEASE (for us): the lease is freed.
 * - INFORM: ACK with configuration but no address and no lease time (§4.3.5), to ciaddr.
 * - Relayed requests (giaddr set) are ignored: we only own the boot interface's subnet.
 * Expiry: a lease whose `expiresAt` ≤ `ctx.now` is free (the server's clock is injected).
 */
import type { DhcpOption } from './codec.ts';
import { ipv4FromNumber, ipv4ToNumber } from './codec.ts';
import type { Lease, LeaseOp } from './leases.ts';
import { Opt, ipListOption, ipOption, opt, u32Option } from './options.ts';
import {
  admit,
  baseReply,
  bootTarget,
  destination,
  event,
  headOptions,
  ignore,
  pxeParts,
  replyDelay,
  type Decision,
  type DecideContext,
  type Subject,
} from './reply.ts';

export function decideFull(ctx: DecideContext, s: Subject): Decision {
  const leases = ctx.leases;
  if (!leases) throw new TypeError('full mode needs ctx.leases');
  if (s.request.giaddr !== '0.0.0.0') return ignore(ctx, s, 'relayed', s.pxe);
  const admission = admit(ctx, s);
  if (!admission.ok) return ignore(ctx, s, admission.reason, s.pxe || admission.reason === 'pending-approval', admission.enroll);
  const key = clientKey(s);
  const mine = leases.byClient(key);

  switch (s.type) {
    case 'DISCOVER': {
      const ip = allocate(ctx, s, key);
      if (!ip) return ignore(ctx, s, 'pool-exhausted', true);
      // Pi 3 boot ROM and bootcode.bin never send a REQUEST: they use the OFFERed address
      // directly (DOC-NET "Known problems"; fw#1699: two Pis on one address). So their
      // OFFER binds the address for a full lease, or the next client could be given it.
      const romUsesOffer = s.pi !== undefined && (s.pi.model === 'pi3b' || s.pi.model === 'pi3');
      const hold: Lease = romUsesOffer
        ? { ip, clientKey: key, mac: s.info.mac, state: 'bound', expiresAt: ctx.now + ctx.dhcp.full.leaseTimeSec * 1000 }
        : { ip, clientKey: key, mac: s.info.mac, state: 'offered', expiresAt: ctx.now + ctx.dhcp.full.offerHoldMs };
      // never downgrade a bound lease to `offered` (a rebooting client re-DISCOVERs)
      const ops: LeaseOp[] = mine?.ip === ip && mine.state === 'bound' && mine.expiresAt > ctx.now ? [] : [{ op: 'put', lease: hold }];
      return addressReply(ctx, s, 'OFFER', ip, ops);
    }
    case 'REQUEST': {
      const requested = s.info.requestedIp;
      if (s.info.serverId !== undefined) {
        if (s.info.serverId !== ctx.serverAddress) {
          const ops: LeaseOp[] = mine && mine.state === 'offered' ? [{ op: 'delete', ip: mine.ip }] : [];
          return { ...ignore(ctx, s, 'request-for-other-server', s.pxe), leaseOps: ops };
        }
        if (requested && mine && mine.ip === requested && available(ctx, requested, key)) return ack(ctx, s, requested, mine);
        return nak(ctx, s, 'requested address is not the one offered');
      }
      if (s.request.ciaddr === '0.0.0.0') {
        // INIT-REBOOT
        if (!requested) return nak(ctx, s, 'REQUEST without server id, requested address or ciaddr');
        if (!onSubnet(ctx, requested)) return nak(ctx, s, 'requested address is not on this network');
        const reserved = s.node?.ipv4;
        if (reserved && reserved !== requested) return nak(ctx, s, 'client has a different reserved address');
        if (mine && mine.ip !== requested) return nak(ctx, s, 'client holds a different address');
        if (!mine && !reserved) return ignore(ctx, s, 'no-lease', s.pxe);
        if (!available(ctx, requested, key)) return nak(ctx, s, 'requested address is in use');
        return ack(ctx, s, requested, mine);
      }
      // RENEWING / REBINDING
      const ip = s.request.ciaddr;
      if (!onSubnet(ctx, ip)) return nak(ctx, s, 'ciaddr is not on this network');
      const reserved = s.node?.ipv4;
      if (reserved && reserved !== ip) return nak(ctx, s, 'client has a different reserved address');
      if (!available(ctx, ip, key)) return nak(ctx, s, 'ciaddr is bound to another client');
      if (!(mine && mine.ip === ip) && !reserved) return ignore(ctx, s, 'no-lease', s.pxe);
      return ack(ctx, s, ip, mine);
    }
    case 'DECLINE': {
      if (s.info.serverId !== ctx.serverAddress) return ignore(ctx, s, 'decline-for-other-server', s.pxe);
      const ip = s.info.requestedIp ?? mine?.ip;
      if (!ip) return ignore(ctx, s, 'no-lease', true);
      const ops: LeaseOp[] = [
        { op: 'put', lease: { ip, clientKey: `declined:${ip}`, mac: s.info.mac, state: 'declined', expiresAt: ctx.now + ctx.dhcp.full.declineHoldMs } },
      ];
      return { kind: 'record', leaseOps: ops, event: event(ctx, s, 'dhcp-ack', 'declined', { ip }) };
    }
    case 'RELEASE': {
      if (s.info.serverId !== undefined && s.info.serverId !== ctx.serverAddress) return ignore(ctx, s, 'release-for-other-server', s.pxe);
      if (!mine || mine.ip !== s.request.ciaddr) return ignore(ctx, s, 'no-lease', true);
      return { kind: 'record', leaseOps: [{ op: 'delete', ip: mine.ip }], event: event(ctx, s, 'dhcp-ack', 'released', { ip: mine.ip }) };
    }
    case 'INFORM': {
      const parts = pxeOptionsFor(ctx, s);
      const message = baseReply(s, {
        ciaddr: s.request.ciaddr,
        siaddr: parts.siaddr,
        file: parts.file,
        options: [...headOptions('ACK', ctx), ...networkOptions(ctx), ...parts.options],
      });
      return { kind: 'reply', message, to: destination(ctx, s, 'ACK'), event: event(ctx, s, 'dhcp-ack', 'informed', { ip: s.request.ciaddr }) };
    }
    default:
      return ignore(ctx, s, 'unsupported-message-type', s.pxe);
  }
}

function ack(ctx: DecideContext, s: Subject, ip: string, mine: Lease | undefined): Decision {
  const lease: Lease = {
    ip,
    clientKey: clientKey(s),
    mac: s.info.mac,
    state: 'bound',
    expiresAt: ctx.now + ctx.dhcp.full.leaseTimeSec * 1000,
    ...(s.info.hostname ? { hostname: s.info.hostname } : mine?.hostname ? { hostname: mine.hostname } : {}),
  };
  return addressReply(ctx, s, 'ACK', ip, [{ op: 'put', lease }]);
}

function nak(ctx: DecideContext, s: Subject, why: string): Decision {
  const message = baseReply(s, { options: [...headOptions('NAK', ctx), opt(Opt.Message, why)] });
  return { kind: 'reply', message, to: destination(ctx, s, 'NAK'), event: event(ctx, s, 'dhcp-discover', 'nak', { reason: why }) };
}

function addressReply(ctx: DecideContext, s: Subject, type: 'OFFER' | 'ACK', ip: string, ops: LeaseOp[]): Decision {
  const parts = pxeOptionsFor(ctx, s);
  const lease = ctx.dhcp.full.leaseTimeSec;
  const message = baseReply(s, {
    ciaddr: type === 'ACK' ? s.request.ciaddr : '0.0.0.0',
    yiaddr: ip,
    siaddr: parts.siaddr,
    file: parts.file,
    options: [
      ...headOptions(type, ctx),
      u32Option(Opt.LeaseTime, lease),
      u32Option(Opt.RenewalTime, Math.floor(lease * 0.5)),
      u32Option(Opt.RebindingTime, Math.floor(lease * 0.875)),
      ...networkOptions(ctx),
      ...parts.options,
    ],
  });
  const delayMs = type === 'OFFER' ? replyDelay(ctx, s) : undefined;
  const detail: Record<string, string | number | boolean> = { reply: type };
  if (parts.boot) detail.boot = parts.boot;
  if (delayMs) detail.delayMs = delayMs;
  return {
    kind: 'reply',
    message,
    to: destination(ctx, s, type),
    ...(delayMs ? { delayMs } : {}),
    event: event(ctx, s, type === 'ACK' ? 'dhcp-ack' : 'dhcp-discover', type === 'ACK' ? 'leased' : 'answered', { ip, detail }),
    leaseOps: ops,
  };
}

/** PXE options for PXE clients we can boot; nothing for others (a node's OS DHCP). */
function pxeOptionsFor(ctx: DecideContext, s: Subject): { options: DhcpOption[]; siaddr: string; file: string; boot?: string } {
  if (!s.pxe) return { options: [], siaddr: '0.0.0.0', file: '' };
  const target = bootTarget(ctx, s);
  if (typeof target === 'string') return { options: [], siaddr: '0.0.0.0', file: '' };
  return { ...pxeParts(ctx, s, target), boot: target.kind === 'pi' ? 'pi-menu' : target.file };
}

function networkOptions(ctx: DecideContext): DhcpOption[] {
  const f = ctx.dhcp.full;
  const out: DhcpOption[] = [ipOption(Opt.SubnetMask, f.subnetMask)];
  if (f.router) out.push(ipOption(Opt.Router, f.router));
  if (f.dnsServers.length > 0) out.push(ipListOption(Opt.DnsServers, f.dnsServers));
  if (f.domainName) out.push(opt(Opt.DomainName, f.domainName));
  return out;
}

/** RFC 2131 §4.2: the client is identified by option 61 when present, else chaddr. */
export function clientKey(s: Subject): string {
  return s.info.clientId ? `id:${s.info.clientId.toString('hex')}` : `mac:${s.info.mac}`;
}

function onSubnet(ctx: DecideContext, ip: string): boolean {
  const mask = ipv4ToNumber(ctx.dhcp.full.subnetMask)!;
  const a = ipv4ToNumber(ip);
  const b = ipv4ToNumber(ctx.serverAddress);
  return a !== undefined && b !== undefined && (a & mask) >>> 0 === (b & mask) >>> 0;
}

/** Free for this client: nobody else holds it unexpired (declined counts as held). */
function available(ctx: DecideContext, ip: string, key: string): boolean {
  if (ip === ctx.serverAddress) return false;
  const l = ctx.leases!.byIp(ip);
  return !l || l.expiresAt <= ctx.now || l.clientKey === key;
}

function inRange(ctx: DecideContext, ip: string): boolean {
  const n = ipv4ToNumber(ip);
  const lo = ipv4ToNumber(ctx.dhcp.full.rangeStart ?? '');
  const hi = ipv4ToNumber(ctx.dhcp.full.rangeEnd ?? '');
  return n !== undefined && lo !== undefined && hi !== undefined && n >= lo && n <= hi;
}

/** Largest range scanned (a /16); the server refuses bigger ranges at start. */
export const MAX_RANGE_SIZE = 65536;

function allocate(ctx: DecideContext, s: Subject, key: string): string | undefined {
  const reserved = s.node?.ipv4;
  if (reserved && onSubnet(ctx, reserved) && available(ctx, reserved, key)) return reserved;
  const previous = ctx.leases!.byClient(key);
  if (previous && inRange(ctx, previous.ip) && available(ctx, previous.ip, key)) return previous.ip;
  const requested = s.info.requestedIp;
  if (requested && inRange(ctx, requested) && available(ctx, requested, key)) return requested;
  const lo = ipv4ToNumber(ctx.dhcp.full.rangeStart ?? '');
  const hi = ipv4ToNumber(ctx.dhcp.full.rangeEnd ?? '');
  if (lo === undefined || hi === undefined) return undefined;
  for (let n = lo; n <= hi && n - lo < MAX_RANGE_SIZE; n++) {
    const ip = ipv4FromNumber(n);
    if (available(ctx, ip, key)) return ip;
  }
  return undefined;
}
