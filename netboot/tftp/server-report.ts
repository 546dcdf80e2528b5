/**
 * What the TFTP server shares between its request handler and its transfers (`Context`),
 * and how a request's end is reported: one boot event, one outcome count, the slot freed.
 */
import type dgram from 'node:dgram';
import type { NetbootConfig } from '../config.ts';
import type { NetbootDeps } from '../deps.ts';
import type { BootEvent } from '../boot-event.ts';
import type { Negotiated } from './options.ts';
import type { TransferWorkers, WorkerTransfer } from './workers.ts';
import type { NativeTransfer, NativeTransfers } from './native.ts';
import type { Session, SessionEnd, StartTimer } from './session.ts';
import type { VirtualRoot, ResolvedFile } from './virtual-root.ts';
import type { TftpMetrics } from './metrics.ts';
import type { Logger } from '../../common/logger.ts';

export interface Context {
  readonly config: NetbootConfig;
  readonly deps: NetbootDeps;
  readonly log: Logger;
  readonly metrics: TftpMetrics;
  readonly root: VirtualRoot;
  readonly bindAddress: string;
  readonly wrap: (socket: dgram.Socket, role: 'listen' | 'transfer') => dgram.Socket;
  /** Transfers by client `address:port`; `starting` while the file and socket are set up. */
  readonly active: Map<string, Session | WorkerTransfer | NativeTransfer | 'starting'>;
  /** Transfers (starting included) per client IP address, for the per-client cap. */
  readonly perClient: Map<string, number>;
  readonly timers: StartTimer;
  /** Transfer worker threads (undefined: every transfer runs on this thread). */
  readonly workers: TransferWorkers | undefined;
  /** The native engine (undefined: the JS engine, session.ts and workers.ts, runs transfers). */
  readonly native: NativeTransfers | undefined;
}

/** Everything a finished request reports: one boot event and one outcome count. */
export function report(
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

/** Maps a session's end to the log, metrics and one boot event. */
export function sessionEnded(
  ctx: Context,
  key: string,
  ip: string,
  file: string,
  resolved: ResolvedFile,
  negotiated: Negotiated,
  startedAt: number,
  end: SessionEnd,
): void {
  release(ctx, key, ip);
  ctx.metrics.bytes.inc(end.bytesSent);
  if (end.retransmits > 0) ctx.metrics.retransmits.inc(end.retransmits);
  const durationMs = ctx.deps.clock.now() - startedAt;
  const detail = {
    bytes: end.bytesAcked,
    bytesSent: end.bytesSent,
    sizeBytes: resolved.data.length,
    durationMs,
    blksize: negotiated.blksize,
    windowsize: negotiated.windowsize,
    retransmits: end.retransmits,
    source: resolved.source,
  };
  const { outcome, reason } = end;
  if (outcome === 'complete' || outcome === 'probe') {
    ctx.log.info({ ip, mac: resolved.mac, file, outcome, bytes: detail.bytes, durationMs }, 'tftp transfer ended');
  } else {
    ctx.log.warn({ ip, mac: resolved.mac, file, outcome, reason, bytes: detail.bytes }, 'tftp transfer failed');
  }
  report(ctx, { ip, file, outcome, who: resolved, detail, ...(reason !== undefined ? { reason } : {}) });
}

/** Frees a transfer's slot in the total and per-client counts. */
export function release(ctx: Context, key: string, ip: string): void {
  if (!ctx.active.delete(key)) return;
  const n = (ctx.perClient.get(ip) ?? 1) - 1;
  if (n <= 0) ctx.perClient.delete(ip);
  else ctx.perClient.set(ip, n);
  ctx.metrics.active.set(ctx.active.size);
}
