/**
 * One running transfer: a connected socket, one retransmit timer and a `ReadTransfer`
 * state machine. It knows nothing of metrics, boot events or the virtual root — it gets
 * the file's bytes and the negotiated parameters, and reports how it ended through
 * `onEnd` — so the same class runs on the main thread and in a transfer worker.
 *
 * - The socket is `connect()`ed to the client: the kernel drops datagrams from any other
 *   TID (RFC 1350 §4) and sends skip the per-packet address lookup.
 * - DATA is sent as [shared header, slice of the file]: no per-packet copies.
 * - Timers are injected (`StartTimer`) so tests drive retransmits with a manual clock.
 */
import type dgram from 'node:dgram';
import { dataHeader, decodePacket, encodePacket, peekAckBlock } from './codec.ts';
import { ReadTransfer, type TransferStep } from './transfer.ts';

export interface TransferTimer {
  /** Restart the countdown (after every send). */
  refresh(): void;
  clear(): void;
}
export type StartTimer = (fn: () => void, ms: number) => TransferTimer;

export const realTimers: StartTimer = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return { refresh: () => void t.refresh(), clear: () => clearTimeout(t) };
};

export interface SessionSpec {
  readonly data: Buffer;
  readonly blksize: number;
  readonly windowsize: number;
  /** The encoded OACK, when options were accepted. */
  readonly oack: Buffer | undefined;
  readonly maxRetries: number;
  readonly maxRetriesBeforeAck: number;
  readonly retransmitMs: number;
}

export interface SessionEnd {
  readonly outcome: string;
  readonly reason?: string;
  readonly bytesAcked: number;
  readonly bytesSent: number;
  readonly retransmits: number;
  readonly acknowledged: boolean;
}

export interface SessionHooks {
  readonly onEnd: (end: SessionEnd) => void;
  /** A datagram on the transfer socket was dropped (`malformed`, `unexpected-opcode`). */
  readonly onIgnored: (reason: string) => void;
  /** A handler threw (a bug): the session ends with outcome `error` after this. */
  readonly onFault: (err: unknown) => void;
}

export class Session {
  private readonly transfer: ReadTransfer;
  private readonly timer: TransferTimer;
  private ended = false;

  constructor(
    private readonly socket: dgram.Socket,
    private readonly spec: SessionSpec,
    timers: StartTimer,
    private readonly hooks: SessionHooks,
  ) {
    this.transfer = new ReadTransfer({
      sizeBytes: spec.data.length,
      blksize: spec.blksize,
      windowsize: spec.windowsize,
      oack: spec.oack !== undefined,
      maxRetries: spec.maxRetries,
      maxRetriesBeforeAck: spec.maxRetriesBeforeAck,
    });
    this.timer = timers(() => this.guard(() => this.apply(this.transfer.onTimeout())), spec.retransmitMs);
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
      this.hooks.onFault(e);
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
      this.hooks.onIgnored('malformed');
      return;
    }
    if (p.op === 'error') this.apply(this.transfer.onError(p.code, p.message));
    else this.hooks.onIgnored('unexpected-opcode');
  }

  private apply(step: TransferStep): void {
    if (this.ended) return;
    switch (step.kind) {
      case 'send': {
        const sock = this.socket;
        if (step.oack) sock.send(this.spec.oack!);
        const data = this.spec.data;
        const blksize = this.spec.blksize;
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

  /** Ends the transfer once: timer, socket, then `onEnd`. */
  end(outcome: string, reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    this.timer.clear();
    // Close after pending sends (the final ERROR) have been handed to the kernel.
    setImmediate(() => {
      try {
        this.socket.close();
      } catch {
        // already closed
      }
    });
    const t = this.transfer;
    this.hooks.onEnd({
      outcome,
      ...(reason !== undefined ? { reason } : {}),
      bytesAcked: t.bytesAcked,
      bytesSent: t.payloadBytesSent,
      retransmits: t.retransmits,
      acknowledged: t.acknowledged,
    });
  }
}
