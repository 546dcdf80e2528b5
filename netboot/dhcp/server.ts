/**
 * The DHCP server: I/O only. Bind, decode, call the pure decision, send; log, count, emit
 * boot events. A bad packet is logged at debug, counted and dropped; the loop never dies.
 *
 * Hand-written (not the npm `dhcp` package 0.2.20, which crashes on a Pi's DISCOVER, has no
 * proxy mode and ACKs requests meant for other servers): see codec.ts.
 *
 * Sockets. Node cannot bind a socket to a device (no SO_BINDTODEVICE), so:
 * - `recv` is bound to 0.0.0.0:<port> and receives the clients' limited broadcasts;
 * - `send` is bound to <boot interface address>:<port> (both with SO_REUSEADDR). Replies
 *   leave through it: for a limited broadcast (255.255.255.255) Linux picks the output
 *   device from the bound source address (route.c, `ip_route_output_key_hash_rcu`), so the
 *   reply leaves by the boot interface even when the default route is on another one. It
 *   also receives unicasts to that address (renewals, relays): the kernel prefers the more
 *   specific binding, so both sockets are read;
 * - `pxe` (optional) is bound to 0.0.0.0:<pxePort> and answers its senders directly.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { Counter, type Registry } from 'prom-client';
import type { NetbootConfig } from '../config.ts';
import type { NetbootDeps, RunningServer } from '../deps.ts';
import type { BootEvent } from '../boot-event.ts';
import { decodeDhcp, encodeDhcp, ipv4ToNumber, type DhcpMessage } from './codec.ts';
import { dhcpConfig, type DhcpConfig } from './config.ts';
import { decideReply, type Decision } from './decide.ts';
import { DecodeError, DhcpConfigError } from './errors.ts';
import { MAX_RANGE_SIZE } from './full.ts';
import { JsonFileLeaseStore, MemoryLeaseStore, type LeaseOp, type LeaseStore } from './leases.ts';
import { clientInfo, getOption, messageTypeName, Opt } from './options.ts';

export interface DhcpServerOptions {
  /** Full mode: where leases live (default: `dhcp.leaseFile` as JSON, else memory). */
  readonly leaseStore?: LeaseStore;
}

export interface RunningDhcpServer extends RunningServer {
  readonly serverAddress: string;
  /** Full mode only. */
  readonly leases?: LeaseStore;
}

export async function startDhcpServer(config: NetbootConfig, deps: NetbootDeps, options: DhcpServerOptions = {}): Promise<RunningDhcpServer> {
  const dhcp = dhcpConfig(config.dhcp);
  const log = deps.log.child({ component: 'dhcp' });
  const serverAddress = config.serverAddress ?? interfaceAddress(config.interface);
  const leases = config.mode === 'full' ? (options.leaseStore ?? openLeaseStore(dhcp)) : undefined;
  if (config.mode === 'full') checkFullConfig(dhcp, serverAddress);
  const metrics = dhcpMetrics(deps.registry);

  const sockets: Socket[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  try {
    const recv = await bindUdp('0.0.0.0', dhcp.port);
    sockets.push(recv);
    const port = recv.address().port;
    const send = await bindUdp(serverAddress, port);
    sockets.push(send);
    const pxe = dhcp.pxePort === null ? undefined : await bindUdp('0.0.0.0', dhcp.pxePort);
    if (pxe) sockets.push(pxe);

    const handle = (buf: Buffer, rinfo: RemoteInfo, via: 'dhcp' | 'pxe', replyVia: Socket): void => {
      try {
        onDatagram(buf, rinfo, via, replyVia);
      } catch (err) {
        metrics.ignored.inc({ reason: 'internal-error' });
        log.error({ err, from: `${rinfo.address}:${rinfo.port}` }, 'dhcp handler failed');
      }
    };

    const onDatagram = (buf: Buffer, rinfo: RemoteInfo, via: 'dhcp' | 'pxe', replyVia: Socket): void => {
      let request: DhcpMessage;
      try {
        request = decodeDhcp(buf);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        metrics.requests.inc({ type: 'malformed' });
        metrics.ignored.inc({ reason: 'malformed' });
        log.debug({ from: `${rinfo.address}:${rinfo.port}`, bytes: buf.length, offset: err.offset, reason: err.reason }, 'dhcp packet malformed');
        return;
      }
      const type = messageTypeName(getOption(request, Opt.MessageType)?.[0]) ?? (request.op === 1 ? 'BOOTP' : 'BOOTREPLY');
      metrics.requests.inc({ type });
      const now = deps.clock.now();
      if (leases) leases.sweep(now - dhcp.full.leaseTimeSec * 1000);
      const decision = decideReply(request, {
        mode: config.mode,
        clients: config.clients,
        enrollment: config.enrollment,
        serverAddress,
        dhcp,
        directory: deps.directory,
        now,
        via,
        source: { address: rinfo.address, port: rinfo.port },
        serverPort: port,
        ...(leases ? { leases } : {}),
      });
      apply(decision, request, replyVia);
    };

    const apply = (d: Decision, request: DhcpMessage, replyVia: Socket): void => {
      if (d.leaseOps && leases) applyLeases(leases, d.leaseOps);
      if (d.event) emit(d.event);
      if (d.kind === 'ignore') {
        metrics.ignored.inc({ reason: d.reason });
        log.debug({ mac: clientInfo(request).mac, reason: d.reason, xid: request.xid }, 'dhcp request ignored');
        if (d.enroll && deps.directory.enroll) {
          try {
            deps.directory.enroll(d.enroll);
          } catch (err) {
            log.warn({ err, mac: d.enroll.mac }, 'dhcp enroll failed');
          }
        }
        return;
      }
      if (d.kind === 'record') return;
      const bytes = encodeDhcp(d.message);
      const replyType = messageTypeName(getOption(d.message, Opt.MessageType)?.[0]) ?? 'BOOTREPLY';
      const sendNow = (): void => {
        if (closed) return;
        replyVia.send(bytes, d.to.port, d.to.address, (err) => {
          if (err) {
            metrics.ignored.inc({ reason: 'send-failed' });
            log.warn({ err, to: `${d.to.address}:${d.to.port}` }, 'dhcp reply send failed');
            return;
          }
          metrics.replies.inc({ type: replyType });
        });
      };
      log.info({ mac: d.event.mac, node: d.event.node, reply: replyType, to: d.to.address, delayMs: d.delayMs }, 'dhcp reply');
      if (d.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          sendNow();
        }, d.delayMs);
        timers.add(t);
      } else sendNow();
    };

    const applyLeases = (store: LeaseStore, ops: readonly LeaseOp[]): void => {
      try {
        store.apply(ops);
      } catch (err) {
        log.error({ err }, 'dhcp lease store failed');
      }
    };

    const emit = (e: BootEvent): void => {
      try {
        deps.sink(e);
      } catch (err) {
        log.warn({ err }, 'boot event sink failed');
      }
    };

    for (const s of sockets) {
      s.on('error', (err) => log.error({ err }, 'dhcp socket error'));
    }
    recv.on('message', (buf, rinfo) => handle(buf, rinfo, 'dhcp', send));
    send.on('message', (buf, rinfo) => handle(buf, rinfo, 'dhcp', send));
    pxe?.on('message', (buf, rinfo) => handle(buf, rinfo, 'pxe', pxe));

    const ports: Record<string, number> = { dhcp: port };
    if (pxe) ports.pxe = pxe.address().port;
    log.info({ mode: config.mode, serverAddress, ports, clients: config.clients }, 'dhcp server listening');
    return {
      ports,
      serverAddress,
      ...(leases ? { leases } : {}),
      close: async () => {
        closed = true;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        await Promise.all(sockets.map((s) => closeSocket(s)));
      },
    };
  } catch (err) {
    closed = true;
    await Promise.all(sockets.map((s) => closeSocket(s)));
    throw err;
  }
}

/** First IPv4 address of the boot interface. */
export function interfaceAddress(name: string): string {
  const addr = networkInterfaces()[name]?.find((a) => a.family === 'IPv4');
  if (!addr) throw new DhcpConfigError(`interface ${name} has no IPv4 address; set netboot.serverAddress`);
  return addr.address;
}

function checkFullConfig(dhcp: DhcpConfig, serverAddress: string): void {
  const f = dhcp.full;
  const lo = ipv4ToNumber(f.rangeStart ?? '');
  const hi = ipv4ToNumber(f.rangeEnd ?? '');
  const mask = ipv4ToNumber(f.subnetMask);
  const server = ipv4ToNumber(serverAddress);
  const problems: string[] = [];
  if (lo === undefined || hi === undefined) problems.push('netboot.dhcp.full.rangeStart/rangeEnd are required in full mode');
  else {
    if (lo > hi) problems.push('netboot.dhcp.full.rangeStart is after rangeEnd');
    if (hi - lo + 1 > MAX_RANGE_SIZE) problems.push(`netboot.dhcp.full range is larger than ${MAX_RANGE_SIZE} addresses`);
    if (mask !== undefined && server !== undefined && ((lo & mask) >>> 0 !== (server & mask) >>> 0 || (hi & mask) >>> 0 !== (server & mask) >>> 0)) {
      problems.push(`netboot.dhcp.full range is not on the server's subnet (${serverAddress}/${f.subnetMask})`);
    }
  }
  if (problems.length > 0) throw new DhcpConfigError(problems.join('; '), { details: { problems } });
}

function openLeaseStore(dhcp: DhcpConfig): LeaseStore {
  return dhcp.leaseFile ? new JsonFileLeaseStore(dhcp.leaseFile) : new MemoryLeaseStore();
}

interface DhcpMetrics {
  readonly requests: Counter<'type'>;
  readonly replies: Counter<'type'>;
  readonly ignored: Counter<'reason'>;
}

function dhcpMetrics(registry: Registry): DhcpMetrics {
  const counter = <L extends string>(name: string, help: string, label: L): Counter<L> =>
    (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames: [label], registers: [registry] });
  return {
    requests: counter('picluster_dhcp_requests_total', 'DHCP datagrams received, by message type', 'type'),
    replies: counter('picluster_dhcp_replies_total', 'DHCP replies sent, by message type', 'type'),
    ignored: counter('picluster_dhcp_ignored_total', 'DHCP datagrams not answered, by reason', 'reason'),
  };
}

function bindUdp(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    const onError = (err: Error): void => {
      s.close();
      reject(err);
    };
    s.once('error', onError);
    s.bind({ address, port }, () => {
      s.off('error', onError);
      s.setBroadcast(true);
      resolve(s);
    });
  });
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
