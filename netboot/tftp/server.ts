/**
 * The TFTP server: I/O only. Decode (codec), decide (options, admission), resolve
 * (virtual root), run a `Session` (session.ts: socket, timer, `ReadTransfer`) per
 * transfer, and turn its end into metrics and a boot event.
 *
 * Hand-written rather than the npm `tftp` package (0.1.2): that runs at about half
 * dnsmasq's speed, its windowed mode fails under 0.2 % loss, and an unhandled client
 * ERROR crashes the process.
 *
 * - One listen socket on `netboot.tftp.port`. Every transfer gets its own socket (a new
 *   TID, RFC 1350 §4) bound to the boot interface's address, because the Pi 3 boot ROM
 *   only accepts packets from the server it got DHCP from (pi-netboot.md §1.2).
 * - Admission (admission.ts): at most `maxTransfers` in total and `maxTransfersPerClient`
 *   per client address; beyond, one ERROR 0 and `picluster_tftp_admission_refused_total`.
 * - Malformed or unexpected datagrams are counted (`picluster_tftp_ignored_total{reason}`)
 *   and dropped; no error escapes a handler, so the loop never dies.
 * - Engines (`netboot.tftp.engine`): `native` (default) hands every admitted transfer to
 *   the C addon (native.ts, native/tftp/); `js` — also the fallback when the addon is not
 *   built — runs a `Session` here or, for big shared files, on a worker thread.
 * - A retransmitted RRQ from a client that already has a transfer (same address and
 *   port) is ignored, as dnsmasq does, rather than starting a second transfer.
 */
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { NetbootConfig } from '../config.ts';
import type { NetbootDeps, RunningServer } from '../deps.ts';
import { decodePacket, encodePacket, TFTP_ERROR } from './codec.ts';
import { decideRequest, oackOptions, type Negotiated } from './options.ts';
import { decideAdmission } from './admission.ts';
import { TransferWorkers } from './workers.ts';
import { NativeTransfers } from './native.ts';
import { realTimers, Session, type SessionEnd, type StartTimer } from './session.ts';
import { VirtualRoot, type ResolvedFile } from './virtual-root.ts';
import { TftpFileError } from './errors.ts';
import { tftpMetrics } from './metrics.ts';
import { release, report, sessionEnded, type Context } from './server-report.ts';

export interface TftpServerOptions {
  /** Wraps every socket the server creates: fault injection in tests (a lossy sender). */
  readonly wrapSocket?: (socket: dgram.Socket, role: 'listen' | 'transfer') => dgram.Socket;
  /** Retransmit timers (tests pass a manual clock). */
  readonly timers?: StartTimer;
}

export interface TftpServer extends RunningServer {
  /** The virtual root (tests look at its read counter). */
  readonly root: VirtualRoot;
  /** Transfers in progress. */
  activeTransfers(): number;
  /** Transfer worker threads ready, and transfers handed to them so far. */
  workerThreads(): number;
  workerTransfers(): number;
  /** Resolves once the worker threads have loaded (until then transfers run in-process). */
  workersReady(): Promise<void>;
  /** The engine running transfers: `native` (the addon) or `js` (configured, or the fallback). */
  readonly engine: 'native' | 'js';
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
    release(ctx, key, rinfo.address);
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
  const tftp = ctx.config.tftp;
  const data = resolved.data;
  const oack = negotiated.accepted.length > 0 ? encodePacket({ op: 'oack', options: oackOptions(negotiated, data.length) }) : undefined;
  const retransmitMs = Math.min(tftp.retransmitMs, (negotiated.timeoutS ?? Infinity) * 1000);
  const startedAt = ctx.deps.clock.now();
  const onEnd = (end: SessionEnd): void => sessionEnded(ctx, key, rinfo.address, file, resolved, negotiated, startedAt, end);
  if (ctx.native) {
    if (ctx.active.get(key) !== 'starting') return; // the server was closed meanwhile
    const job = { data, oack, blksize: negotiated.blksize, windowsize: negotiated.windowsize, retransmitMs };
    try {
      const limits = { maxRetries: tftp.maxRetries, maxRetriesBeforeAck: tftp.maxRetriesBeforeAck };
      const peer = { bindAddress: ctx.bindAddress, clientAddress: rinfo.address, clientPort: rinfo.port };
      ctx.active.set(key, ctx.native.run({ ...job, ...limits, ...peer }, onEnd));
    } catch (e) {
      release(ctx, key, rinfo.address);
      ctx.log.error({ err: e, file }, 'tftp transfer socket failed');
      report(ctx, { ip: rinfo.address, file, outcome: 'error', reason: 'transfer socket failed', who: resolved });
    }
    return;
  }
  // Big shared files go to a worker (the cache is shared memory); small, generated and
  // netascii files are not worth the hop.
  if (ctx.workers?.available() && data.buffer instanceof SharedArrayBuffer && data.length >= tftp.workerMinBytes) {
    if (ctx.active.get(key) !== 'starting') return; // the server was closed meanwhile
    const transfer = ctx.workers.run(
      {
        buffer: data.buffer,
        byteOffset: data.byteOffset,
        length: data.length,
        blksize: negotiated.blksize,
        windowsize: negotiated.windowsize,
        oack,
        maxRetries: tftp.maxRetries,
        maxRetriesBeforeAck: tftp.maxRetriesBeforeAck,
        retransmitMs,
        bindAddress: ctx.bindAddress,
        clientAddress: rinfo.address,
        clientPort: rinfo.port,
      },
      onEnd,
    );
    ctx.active.set(key, transfer);
    return;
  }
  let socket: dgram.Socket | undefined;
  try {
    socket = ctx.wrap(dgram.createSocket({ type: 'udp4' }), 'transfer');
    await bindSocket(socket, 0, ctx.bindAddress);
    await connectSocket(socket, rinfo.port, rinfo.address);
  } catch (e) {
    release(ctx, key, rinfo.address);
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
  const session = new Session(
    socket,
    {
      data,
      blksize: negotiated.blksize,
      windowsize: negotiated.windowsize,
      oack,
      maxRetries: tftp.maxRetries,
      maxRetriesBeforeAck: tftp.maxRetriesBeforeAck,
      retransmitMs,
    },
    ctx.timers,
    {
      onEnd,
      onIgnored: (reason) => ctx.metrics.ignored.inc({ reason }),
      onFault: (err) => ctx.log.error({ err, file }, 'tftp transfer handler failed'),
    },
  );
  ctx.active.set(key, session);
  session.begin();
}

export async function startTftpServer(config: NetbootConfig, deps: NetbootDeps, options: TftpServerOptions = {}): Promise<TftpServer> {
  const log = deps.log.child({ component: 'tftp' });
  const address = bootAddress(config);
  const metrics = tftpMetrics(deps.registry);
  // The native engine runs real timers and unwrapped sockets, as workers do: off when a test injects either.
  let native: NativeTransfers | undefined;
  if (config.tftp.engine === 'native' && !options.timers && !options.wrapSocket) {
    const made = NativeTransfers.create(
      config.tftp.workers,
      (reason, n) => metrics.ignored.inc({ reason }, n),
      (err) => log.error({ err }, 'tftp native transfer report failed'),
    );
    if (made instanceof NativeTransfers) native = made;
    else log.warn({ reason: made.error }, 'tftp native engine unavailable; transfers run on the JS engine');
  }
  const ctx: Context = {
    config,
    deps,
    log,
    metrics,
    root: new VirtualRoot({
      root: config.tftpRoot,
      directory: deps.directory,
      cacheMaxBytes: config.tftp.cacheMaxBytes,
      ...(address !== '0.0.0.0' ? { serverAddress: address } : {}),
    }),
    bindAddress: address,
    wrap: options.wrapSocket ?? ((s) => s),
    active: new Map(),
    perClient: new Map(),
    timers: options.timers ?? realTimers,
    // Workers run real timers and unwrapped sockets: off when a test injects either.
    native,
    workers:
      !native && config.tftp.workers > 0 && !options.timers && !options.wrapSocket
        ? new TransferWorkers(config.tftp.workers, log, (reason) => metrics.ignored.inc({ reason }))
        : undefined,
  };
  const limits = { blksizeMax: config.tftp.blksizeMax, windowsizeMax: config.tftp.windowsizeMax };
  const listen = ctx.wrap(dgram.createSocket({ type: 'udp4' }), 'listen');
  listen.on('error', (e) => log.error({ err: e }, 'tftp listen socket error'));

  const onRequest = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    if (rinfo.port === 0) {
      // No reply can go to port 0 (a spoofed source): connecting a transfer socket to it throws.
      ctx.metrics.ignored.inc({ reason: 'malformed' });
      return;
    }
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
    const admission = decideAdmission({ total: ctx.active.size, client: ctx.perClient.get(rinfo.address) ?? 0 }, config.tftp);
    if (admission.kind === 'refuse') {
      // One small ERROR per request (never larger than the RRQ): no amplification. No
      // boot event either: a flood of refused requests must not write to the store.
      ctx.metrics.refused.inc({ reason: admission.reason });
      log.debug({ ip: rinfo.address, file: p.filename, reason: admission.reason }, 'tftp request refused by admission');
      sendError(listen, TFTP_ERROR.notDefined, admission.message, rinfo.port, rinfo.address);
      return;
    }
    ctx.active.set(key, 'starting');
    ctx.perClient.set(rinfo.address, (ctx.perClient.get(rinfo.address) ?? 0) + 1);
    ctx.metrics.active.set(ctx.active.size);
    startSession(ctx, listen, key, rinfo, decision.filename, decision.netascii, decision.negotiated).catch((e: unknown) => {
      release(ctx, key, rinfo.address);
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
  try {
    await bindSocket(listen, config.tftp.port, listenAddress);
  } catch (e) {
    await ctx.workers?.close();
    await native?.close();
    throw e;
  }
  const port = listen.address().port;
  log.info({ port, address: listenAddress, root: config.tftpRoot }, 'tftp server listening');

  let closed = false;
  return {
    ports: { tftp: port },
    root: ctx.root,
    engine: native ? 'native' : 'js',
    activeTransfers: () => ctx.active.size,
    workerThreads: () => ctx.workers?.size ?? 0,
    workerTransfers: () => ctx.workers?.started ?? 0,
    workersReady: () => ctx.workers?.whenReady() ?? Promise.resolve(),
    async close() {
      if (closed) return;
      closed = true;
      for (const [key, s] of [...ctx.active]) {
        if (s === 'starting') release(ctx, key, key.slice(0, key.lastIndexOf(':')));
        else s.end('aborted', 'server closed');
      }
      await new Promise<void>((resolve) => listen.close(() => resolve()));
      await ctx.workers?.close();
      await ctx.native?.close();
    },
  };
}
