/**
 * The native TFTP data path (native/tftp/, a C N-API addon built by `npm ci` through the
 * root binding.gyp), main-thread side. The server keeps RRQ handling, options, admission,
 * lookup, metrics and boot events; an admitted transfer is handed over here — the file
 * bytes (a view of the shared cache, not copied), the negotiated parameters and the
 * client's address — and the addon's epoll threads run it on their own connected socket,
 * with the same state machine as transfer.ts, reporting one end per transfer.
 *
 * Why: lock-step TFTP is bound by the round trip, and Node's path from epoll to a JS
 * callback and back costs ~2.7 µs per block (docs/BENCHMARKS.md, "TFTP"); in C an ACK is
 * answered without leaving the thread that read it.
 *
 * When the addon is missing (not built: no compiler at `npm ci`, or another OS) the
 * server falls back to the JS engine (session.ts, workers.ts) and says so once.
 */
import { createRequire } from 'node:module';
import type { SessionEnd } from './session.ts';

interface NativeEnd {
  readonly id: number;
  readonly outcome: string;
  readonly reason?: string;
  readonly bytesAcked: number;
  readonly bytesSent: number;
  readonly retransmits: number;
  readonly acknowledged: boolean;
  readonly ignoredMalformed: number;
  readonly ignoredUnexpected: number;
}

declare const handleBrand: unique symbol;
type Handle = { readonly [handleBrand]: true };

interface Addon {
  create(threads: number, onEnd: (end: NativeEnd) => void): Handle;
  start(
    h: Handle,
    data: Uint8Array,
    oack: Uint8Array | null,
    blksize: number,
    windowsize: number,
    maxRetries: number,
    maxRetriesBeforeAck: number,
    retransmitMs: number,
    bindAddress: string,
    clientAddress: string,
    clientPort: number,
  ): number;
  abort(h: Handle, id: number, reason: string): void;
  close(h: Handle): void;
}

export const ADDON_PATH = new URL('../../build/Release/tftp_native.node', import.meta.url);

let loaded: { addon?: Addon; error?: string } | undefined;

/** The addon, or why it could not be loaded. */
export function loadNative(): { addon?: Addon; error?: string } {
  if (!loaded) {
    try {
      loaded = { addon: createRequire(import.meta.url)(ADDON_PATH.pathname) as Addon };
    } catch (e) {
      loaded = { error: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
    }
  }
  return loaded;
}

export interface NativeJob {
  readonly data: Buffer;
  readonly oack: Buffer | undefined;
  readonly blksize: number;
  readonly windowsize: number;
  readonly maxRetries: number;
  readonly maxRetriesBeforeAck: number;
  readonly retransmitMs: number;
  readonly bindAddress: string;
  readonly clientAddress: string;
  readonly clientPort: number;
}

export interface NativeTransfer {
  end(outcome: string, reason?: string): void;
}

export class NativeTransfers {
  private readonly handle: Handle;
  private readonly pending = new Map<number, (end: SessionEnd) => void>();
  private drained: (() => void) | undefined;
  private closed = false;
  /** Transfers handed to the engine so far. */
  started = 0;

  private constructor(
    private readonly addon: Addon,
    threads: number,
    private readonly onIgnored: (reason: string, count: number) => void,
    private readonly onFault: (err: unknown) => void,
  ) {
    // A report runs inside the addon's threadsafe-function callback, where a throw would be an
    // uncaught exception that ends the process: what goes wrong there is logged, as session.ts's guard does.
    this.handle = addon.create(threads, (end) => {
      try {
        this.onEnd(end);
      } catch (e) {
        this.onFault(e);
      }
    });
  }

  /** An engine with `threads` epoll threads, or undefined (and why) without the addon. */
  static create(
    threads: number,
    onIgnored: (reason: string, count: number) => void,
    onFault: (err: unknown) => void = () => undefined,
  ): NativeTransfers | { error: string } {
    const { addon, error } = loadNative();
    if (!addon) return { error: error ?? 'not loaded' };
    return new NativeTransfers(addon, Math.max(1, threads), onIgnored, onFault);
  }

  get running(): number {
    return this.pending.size;
  }

  private onEnd(e: NativeEnd): void {
    if (e.ignoredMalformed > 0) this.onIgnored('malformed', e.ignoredMalformed);
    if (e.ignoredUnexpected > 0) this.onIgnored('unexpected-opcode', e.ignoredUnexpected);
    const onEnd = this.pending.get(e.id);
    if (!onEnd) return;
    this.pending.delete(e.id);
    onEnd({
      outcome: e.outcome,
      ...(e.reason !== undefined ? { reason: e.reason } : {}),
      bytesAcked: e.bytesAcked,
      bytesSent: e.bytesSent,
      retransmits: e.retransmits,
      acknowledged: e.acknowledged,
    });
    if (this.pending.size === 0) this.drained?.();
  }

  /** Starts a transfer; throws when its socket cannot be bound or connected. */
  run(job: NativeJob, onEnd: (end: SessionEnd) => void): NativeTransfer {
    if (this.closed) throw new Error('tftp native engine closed');
    const id = this.addon.start(
      this.handle,
      job.data,
      job.oack ?? null,
      job.blksize,
      job.windowsize,
      job.maxRetries,
      job.maxRetriesBeforeAck,
      job.retransmitMs,
      job.bindAddress,
      job.clientAddress,
      job.clientPort,
    );
    this.started++;
    this.pending.set(id, onEnd);
    return { end: (outcome, reason) => this.closed || this.addon.abort(this.handle, id, reason ?? outcome) };
  }

  /** Aborts what is running, waits (briefly) for the reports, stops the threads. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.pending.size > 0) {
      const drained = new Promise<void>((resolve) => (this.drained = resolve));
      for (const id of this.pending.keys()) this.addon.abort(this.handle, id, 'server closed');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
      clearTimeout(timer);
    }
    this.closed = true;
    this.addon.close(this.handle);
  }
}
