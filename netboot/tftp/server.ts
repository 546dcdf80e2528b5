/**
 * The TFTP server: I/O only. Decode (codec), decide (options), resolve (virtual root),
 * drive a `ReadTransfer` state machine with sockets and one timer per transfer.
 *
 * Hand-written rather than the npm `tftp` package (0.1.2): that runs at about half
 * dnsmasq's speed, its windowed mode fails under 0.2 % loss, and an unhandled client
 * ERROR crashes the process.
 *
 * - One listen socket on `netboot.tftp.port`. Every transfer gets its own socket (a new
 *   TID, RFC 1350 §4) bound to the boot interface's address, because the Pi 3 boot ROM
 *   only accepts packets from the server it got DHCP from (pi-netboot.md §1.2), and
 *   `connect()`ed to the client, so the kernel drops datagrams from any other TID and
 *   sends skip the per-packet address lookup.
 * - Malformed or unexpected datagrams are counted (`picluster_tftp_ignored_total{reason}`)
 *   and dropped; no error escapes a handler, so the loop never dies.
 * - A retransmitted RRQ from a client that already has a transfer (same address and
 *   port) is ignored, as dnsmasq does, rather than starting a second transfer.
 * - DATA is sent as [shared header, slice of the cached file]: no per-packet copies.
 */
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { NetbootConfig } from '../config.ts';
import type { NetbootDeps, RunningServer } from '../deps.ts';
import type { BootEvent } from '../boot-event.ts';
import { dataHeader, decodePacket, encodePacket, peekAckBlock, TFTP_ERROR } from './codec.ts';
import { decideRequest, oackOptions, type Negotiated } from './options.ts';
import { ReadTransfer, type TransferStep } from './transfer.ts';
import { VirtualRoot, type ResolvedFile } from './virtual-root.ts';
import { TftpFileError } from './errors.ts';
import { tftpMetrics, type TftpMetrics } from './metrics.ts';
import type { Logger } from '../../common/logger.ts';

export interface TftpServerOptions {
  /** Wraps every socket the server creates: fault injection in tests (a lossy sender). */
  readonly wrapSocket?: (socket: dgram.Socket, role: 'listen' | 'transfer') => dgram.Socket;
}

export interface TftpServer extends RunningServer {
  /** The virtual root (tests look at its read counter). */
  readonly root: VirtualRoot;
  /** Transfers in progress. */
  activeTransfers(): number;
}

/** The boot interface's IPv4 address: `serverAddress`, else the interface's, else any. */
export function bootAddress(config: NetbootConfig): string {
  if (config.serverAddress) return config.serverAddress;
  const addrs = networkInterfaces()[config.interface] ?? [];
  return addrs.find((a) => a.family === 'IPv4' && !a.internal)?.address ?? addrs.find((a) => a.family === 'IPv4')?.address ?? '0.0.0.0';
}

function bindSocket(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    socket.once('error', onError);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function connectSocket(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    socket.once('error', onError);
    socket.connect(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

interface Context {
  readonly config: NetbootConfig;
  readonly deps: NetbootDeps;
  readonly log: Logger;
  readonly metrics: TftpMetrics;
  readonly root: VirtualRoot;
  readonly bindAddress: string;
  readonly wrap: (socket: dgram.Socket, role: 'listen' | 'transfer') => dgram.Socket;
  readonly active: Map<string, Session | 'starting'>;
}

/** Everything a finished request reports: one boot event and one outcome count. */
function report(
  ctx: Context,
  r: {
    ip: string;
    file: string;
    outcome: string;
    reason?: string;
    who: { node?: { name: string }; serial?: string; mac?: string };
    detail?: Record<string, string | number | boolean>;
  },
): void {
  ctx.metrics.transfers.inc({ outcome: r.outcome });
  const event: BootEvent = {
    kind: 'tftp-transfer',
    at: ctx.deps.clock.now(),
    ip: r.ip,
    outcome: r.outcome,
    ...(r.who.mac !== undefined ? { mac: r.who.mac } : {}),
    ...(r.who.serial !== undefined ? { serial: r.who.serial } : {}),
    ...(r.who.node ? { node: r.who.node.name } : {}),
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    detail: { file: r.file, ...r.detail },
  };
  try {
    ctx.deps.sink(event);
  } catch (e) {
    ctx.log.warn({ err: e }, 'boot event sink threw');
  }
}

/** One running transfer: its socket, timer and state machine. */
class Session {
  private readonly transfer: ReadTransfer;
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt: number;
  private readonly oack: Buffer | undefined;
  private ended = false;

  constructor(
    private readonly ctx: Context,
    private readonly key: string,
    private readonly socket: dgram.Socket,
    private readonly ip: string,
    private readonly file: string,
    private readonly resolved: ResolvedFile,
    private readonly negotiated: Negotiated,
  ) {
    const data = resolved.data;
    this.oack = negotiated.accepted.length > 0 ? encodePacket({ op: 'oack', options: oackOptions(negotiated, data.length) }) : undefined;
    this.transfer = new ReadTransfer({
      sizeBytes: data.length,
      blksize: negotiated.blksize,
      windowsize: negotiated.windowsize,
      oack: this.oack !== undefined,
      maxRetries: ctx.config.tftp.maxRetries,
    });
    this.startedAt = ctx.deps.clock.now();
    const retransmitMs = Math.min(ctx.config.tftp.retransmitMs, (negotiated.timeoutS ?? Infinity) * 1000);
    this.timer = setTimeout(() => this.guard(() => this.apply(this.transfer.onTimeout())), retransmitMs);
    socket.on('message', (msg: Buffer) => this.guard(() => this.onMessage(msg)));
    socket.on('error', (e: Error) => this.guard(() => this.end('error', `socket: ${e.message}`)));
  }

  begin(): void {
    this.guard(() => this.apply(this.transfer.start()));
  }

  /** No exception from a handler may escape into the event loop. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.ctx.log.error({ err: e, file: this.file }, 'tftp transfer handler failed');
      if (!this.ended) this.end('error', e instanceof Error ? e.message : String(e));
    }
  }

  private onMessage(msg: Buffer): void {
    const block = peekAckBlock(msg);
    if (block !== undefined) {
      this.apply(this.transfer.onAck(block));
      return;
    }
    let p;
    try {
      p = decodePacket(msg);
    } catch {
      this.ctx.metrics.ignored.inc({ reason: 'malformed' });
      return;
    }
    if (p.op === 'error') {
      this.apply(this.transfer.onError(p.code, p.message));
    } else {
      this.ctx.metrics.ignored.inc({ reason: 'unexpected-opcode' });
    }
  }

  private apply(step: TransferStep): void {
    if (this.ended) return;
    switch (step.kind) {
      case 'send': {
        const sock = this.socket;
        if (step.oack) sock.send(this.oack!);
        const data = this.resolved.data;
        const blksize = this.negotiated.blksize;
        const size = data.length;
        for (let n = step.first, last = step.first + step.count; n < last; n++) {
          const start = (n - 1) * blksize;
          const end = start + blksize < size ? start + blksize : size;
          sock.send([dataHeader(n), data.subarray(start, end)]);
        }
        this.timer.refresh();
        return;
      }
      case 'ignore':
        return;
      case 'done':
        if (step.error) this.socket.send(encodePacket({ op: 'error', code: step.error.code, message: step.error.message }));
        this.end(step.outcome, step.reason);
        return;
    }
  }

  /** Ends the transfer once: timer, socket, metrics, boot event. */
  end(outcome: string, reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    // Close after pending sends (the final ERROR) have been handed to the kernel.
    setImmediate(() => {
      try {
        this.socket.close();
      } catch {
        // already closed
      }
    });
    this.ctx.active.delete(this.key);
    const t = this.transfer;
    this.ctx.metrics.bytes.inc(t.payloadBytesSent);
    if (t.retransmits > 0) this.ctx.metrics.retransmits.inc(t.retransmits);
    const durationMs = this.ctx.deps.clock.now() - this.startedAt;
    const detail = {
      bytes: t.bytesAcked,
      bytesSent: t.payloadBytesSent,
      sizeBytes: this.resolved.data.length,
      durationMs,
      blksize: this.negotiated.blksize,
      windowsize: this.negotiated.windowsize,
      retransmits: t.retransmits,
      source: this.resolved.source,
    };
    const log = this.ctx.log;
    if (outcome === 'complete' || outcome === 'probe') {
      log.info({ ip: this.ip, mac: this.resolved.mac, file: this.file, outcome, bytes: detail.bytes, durationMs }, 'tftp transfer ended');
    } else {
      log.warn({ ip: this.ip, mac: this.resolved.mac, file: this.file, outcome, reason, bytes: detail.bytes }, 'tftp transfer failed');
    }
    report(this.ctx, {
      ip: this.ip,
      file: this.file,
      outcome,
      who: this.resolved,
      detail,
      ...(reason !== undefined ? { reason } : {}),
    });
  }
}

function sendError(socket: dgram.Socket, code: number, message: string, port: number, address: string): void {
  socket.send(encodePacket({ op: 'error', code, message }), port, address);
}

async function startSession(
  ctx: Context,
  listen: dgram.Socket,
  key: string,
  rinfo: dgram.RemoteInfo,
  file: string,
  netascii: boolean,
  negotiated: Negotiated,
): Promise<void> {
  let resolved: ResolvedFile;
  try {
    resolved = await ctx.root.resolve(file, { netascii });
  } catch (e) {
    ctx.active.delete(key);
    const fileError = e instanceof TftpFileError ? e : undefined;
    if (!fileError) ctx.log.error({ err: e, file }, 'tftp file lookup failed');
    const problem = fileError?.problem ?? 'error';
    const code = problem === 'not-found' ? TFTP_ERROR.fileNotFound : problem === 'access-violation' ? TFTP_ERROR.accessViolation : TFTP_ERROR.notDefined;
    const message = problem === 'not-found' ? 'file not found' : problem === 'access-violation' ? 'access violation' : 'internal error';
    sendError(listen, code, message, rinfo.port, rinfo.address);
    ctx.log.debug({ ip: rinfo.address, file, problem }, 'tftp request refused');
    report(ctx, { ip: rinfo.address, file, outcome: problem, reason: fileError?.reason ?? String(e), who: ctx.root.identify(file) });
    return;
  }
  let socket: dgram.Socket | undefined;
  try {
    socket = ctx.wrap(dgram.createSocket({ type: 'udp4' }), 'transfer');
    await bindSocket(socket, 0, ctx.bindAddress);
    await connectSocket(socket, rinfo.port, rinfo.address);
  } catch (e) {
    ctx.active.delete(key);
    try {
      socket?.close();
    } catch {
      // not open
    }
    ctx.log.error({ err: e, file }, 'tftp transfer socket failed');
    report(ctx, { ip: rinfo.address, file, outcome: 'error', reason: 'transfer socket failed', who: resolved });
    return;
  }
  if (ctx.active.get(key) !== 'starting') {
    socket.close(); // the server was closed meanwhile
    return;
  }
  const session = new Session(ctx, key, socket, rinfo.address, file, resolved, negotiated);
  ctx.active.set(key, session);
  session.begin();
}

export async function startTftpServer(config: NetbootConfig, deps: NetbootDeps, options: TftpServerOptions = {}): Promise<TftpServer> {
  const log = deps.log.child({ component: 'tftp' });
  const address = bootAddress(config);
  const ctx: Context = {
    config,
    deps,
    log,
    metrics: tftpMetrics(deps.registry),
    root: new VirtualRoot({ root: config.tftpRoot, directory: deps.directory, cacheMaxBytes: config.tftp.cacheMaxBytes }),
    bindAddress: address,
    wrap: options.wrapSocket ?? ((s) => s),
    active: new Map(),
  };
  const limits = { blksizeMax: config.tftp.blksizeMax, windowsizeMax: config.tftp.windowsizeMax };
  const listen = ctx.wrap(dgram.createSocket({ type: 'udp4' }), 'listen');
  listen.on('error', (e) => log.error({ err: e }, 'tftp listen socket error'));

  const onRequest = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    let p;
    try {
      p = decodePacket(msg);
    } catch (e) {
      ctx.metrics.ignored.inc({ reason: 'malformed' });
      log.debug({ ip: rinfo.address, err: e }, 'tftp malformed datagram ignored');
      return;
    }
    if (p.op !== 'rrq' && p.op !== 'wrq') {
      ctx.metrics.ignored.inc({ reason: 'unexpected-opcode' });
      log.debug({ ip: rinfo.address, op: p.op }, 'tftp datagram ignored');
      return;
    }
    ctx.metrics.requests.inc();
    const key = `${rinfo.address}:${rinfo.port}`;
    if (ctx.active.has(key)) {
      ctx.metrics.ignored.inc({ reason: 'duplicate-request' });
      return;
    }
    const decision = decideRequest(p, limits);
    if (decision.kind === 'refuse') {
      sendError(listen, decision.code, decision.message, rinfo.port, rinfo.address);
      report(ctx, { ip: rinfo.address, file: p.filename, outcome: 'refused', reason: decision.reason, who: ctx.root.identify(p.filename) });
      return;
    }
    if (ctx.active.size >= config.tftp.maxTransfers) {
      ctx.metrics.ignored.inc({ reason: 'busy' });
      sendError(listen, TFTP_ERROR.notDefined, 'server busy', rinfo.port, rinfo.address);
      return;
    }
    ctx.active.set(key, 'starting');
    startSession(ctx, listen, key, rinfo, decision.filename, decision.netascii, decision.negotiated).catch((e: unknown) => {
      ctx.active.delete(key);
      log.error({ err: e }, 'tftp session start failed');
    });
  };
  listen.on('message', (msg, rinfo) => {
    try {
      onRequest(msg, rinfo);
    } catch (e) {
      log.error({ err: e }, 'tftp request handler failed');
    }
  });

  const listenAddress = config.serverAddress ?? (address === '0.0.0.0' ? '0.0.0.0' : address);
  await bindSocket(listen, config.tftp.port, listenAddress);
  const port = listen.address().port;
  log.info({ port, address: listenAddress, root: config.tftpRoot }, 'tftp server listening');

  let closed = false;
  return {
    ports: { tftp: port },
    root: ctx.root,
    activeTransfers: () => ctx.active.size,
    async close() {
      if (closed) return;
      closed = true;
      for (const [key, s] of [...ctx.active]) {
        if (s === 'starting') ctx.active.delete(key);
        else s.end('aborted', 'server closed');
      }
      await new Promise<void>((resolve) => listen.close(() => resolve()));
    },
  };
}
