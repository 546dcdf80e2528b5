/**
 * The pure DHCP decision: `decideReply(request, context) → reply | ignore | record`.
 * No sockets, timers, logger or clock: the server (server.ts) does I/O, sleeps the delay,
 * applies lease changes, calls `directory.enroll`, logs and counts.
 *
 * Hand-written (not the npm `dhcp` package 0.2.20, which crashes on a Pi's DISCOVER, has no
 * proxy mode and ACKs requests meant for other servers): see codec.ts.
 *
 * Proxy mode (default; lives beside the home router, never hands out an address):
 * - Only PXE clients (option 60 starts with `PXEClient`) are considered.
 * - DHCP port (67): only DISCOVER is answered, with an OFFER of yiaddr 0, the broadcast
 *   flag, options 53=2, 54, 60=`PXEClient`, 97 echoed, 43 — for a Pi exactly what dnsmasq
 *   sends for `pxe-service=0,"Raspberry Pi Boot"` (rfc2131.c L940–1013; the Pi needs
 *   option 43 sub-option 9 with "Raspberry Pi Boot", DOC-NET). A REQUEST on port 67 is
 *   never answered: dnsmasq drops it in proxy mode (`if ((context->flags & CONTEXT_PROXY)
 *   || pxe) return 0;`), and the Pi 4/5 REQUEST is meant for the router (ee#82/#87).
 * - PXE port (4011): a REQUEST from a PXE client (UEFI firmware and iPXE do this after a
 *   proxy OFFER, PXE 2.1 §2.2) gets an ACK with the boot file, sent back to its source,
 *   as dnsmasq's PXE boot server does. A DISCOVER there is ignored.
 * Full mode: see full.ts.
 */
import { BOOTREQUEST, BROADCAST_FLAG, type DhcpMessage } from './codec.ts';
import { decideFull } from './full.ts';
import { clientInfo } from './options.ts';
import { identifyPi, isPxeClient } from './pxe.ts';
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

export type { Decision, DecideContext, IgnoreReason, EnrollRequest, Endpoint } from './reply.ts';

export function decideReply(request: DhcpMessage, ctx: DecideContext): Decision {
  if (request.op !== BOOTREQUEST) return ignore(ctx, undefined, 'not-a-request', false);
  const info = clientInfo(request);
  if (!info.messageType) return ignore(ctx, undefined, 'not-dhcp', false);
  if (request.htype !== 1 || request.hlen !== 6) return ignore(ctx, undefined, 'not-ethernet', false);
  const pxe = isPxeClient(info);
  const pi = identifyPi(info, ctx.dhcp.piOuis);
  const node = ctx.directory.findByMac(info.mac) ?? (pi?.serial ? ctx.directory.findBySerial(pi.serial) : undefined);
  const serial = pi?.serial ?? node?.serial;
  const s: Subject = {
    request,
    info,
    type: info.messageType,
    pxe,
    ...(pi ? { pi } : {}),
    ...(node ? { node } : {}),
    ...(serial ? { serial } : {}),
  };
  if (ctx.via === 'pxe') return decidePxePort(ctx, s);
  return ctx.mode === 'full' ? decideFull(ctx, s) : decideProxy(ctx, s);
}

function decideProxy(ctx: DecideContext, s: Subject): Decision {
  // Not a PXE client: none of a proxy's business, and not worth a boot event.
  if (!s.pxe) return ignore(ctx, s, 'not-pxe-client', false);
  if (s.type !== 'DISCOVER') {
    const forOther = s.info.serverId !== undefined && s.info.serverId !== ctx.serverAddress;
    const d = ignore(ctx, s, forOther ? 'request-for-other-server' : s.type === 'REQUEST' ? 'proxy-request' : 'unsupported-message-type', true);
    // The address the client takes from the LAN's DHCP server (option 50, or ciaddr when it
    // renews) goes on the event: the dispatcher joins later IP-only fetches to this MAC by it.
    const ip = s.type === 'REQUEST' ? (s.info.requestedIp ?? (s.request.ciaddr !== '0.0.0.0' ? s.request.ciaddr : undefined)) : undefined;
    return ip && d.kind === 'ignore' && d.event ? { ...d, event: { ...d.event, ip } } : d;
  }
  const admission = admit(ctx, s);
  if (!admission.ok) return ignore(ctx, s, admission.reason, true, admission.enroll);
  const target = bootTarget(ctx, s);
  if (typeof target === 'string') return ignore(ctx, s, target, true);
  const parts = pxeParts(ctx, s, target);
  const message = baseReply(s, {
    flags: s.request.flags | BROADCAST_FLAG,
    siaddr: parts.siaddr,
    file: parts.file,
    options: [...headOptions('OFFER', ctx), ...parts.options],
  });
  const delayMs = replyDelay(ctx, s);
  const bootDetail: Record<string, string | number | boolean> = { reply: 'OFFER', boot: target.kind === 'pi' ? 'pi-menu' : target.file };
  if (delayMs) bootDetail.delayMs = delayMs;
  return {
    kind: 'reply',
    message,
    to: destination(ctx, s, 'OFFER'),
    ...(delayMs ? { delayMs } : {}),
    event: event(ctx, s, 'dhcp-discover', 'answered', { detail: bootDetail }),
  };
}

/** Port 4011: the PXE boot server exchange (both modes). */
function decidePxePort(ctx: DecideContext, s: Subject): Decision {
  if (!s.pxe) return ignore(ctx, s, 'not-pxe-client', false);
  if (s.type === 'DISCOVER') return ignore(ctx, s, 'discover-on-pxe-port', true);
  if (s.type !== 'REQUEST' && s.type !== 'INFORM') return ignore(ctx, s, 'unsupported-message-type', true);
  if (s.info.serverId !== undefined && s.info.serverId !== ctx.serverAddress) return ignore(ctx, s, 'request-for-other-server', true);
  const admission = admit(ctx, s);
  if (!admission.ok) return ignore(ctx, s, admission.reason, true, admission.enroll);
  const target = bootTarget(ctx, s);
  if (typeof target === 'string') return ignore(ctx, s, target, true);
  const parts = pxeParts(ctx, s, target);
  const message = baseReply(s, {
    ciaddr: s.request.ciaddr,
    siaddr: parts.siaddr,
    file: parts.file,
    options: [...headOptions('ACK', ctx), ...parts.options],
  });
  return {
    kind: 'reply',
    message,
    to: destination(ctx, s, 'ACK'),
    event: event(ctx, s, 'dhcp-discover', 'answered', {
      detail: { reply: 'ACK', boot: target.kind === 'pi' ? 'pi-menu' : target.file },
    }),
  };
}
