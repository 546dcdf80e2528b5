/**
 * One read transfer as a pure state machine: events in (`start`, `onAck`, `onError`,
 * `onTimeout`), what to send out. No sockets, no timers, no clock: the server maps a
 * `send` step to datagrams and (re)arms its retransmit timer after every send.
 *
 * Hand-written rather than the npm `tftp` package (0.1.2): that runs at about half
 * dnsmasq's speed, its windowed mode fails under 0.2 % loss, and an unhandled client
 * ERROR crashes the process.
 *
 * Blocks are numbered absolutely (1..lastBlock, unbounded); the wire carries
 * `block & 0xffff`, so numbering rolls over from 65535 to **0**, as tftpd-hpa and
 * dnsmasq do and as curl (`(block + 1) & 0xffff`), atftp, tftp-hpa and the Pi
 * bootloader since 2025-09 (rpi-eeprom#720) expect. ACKs are mapped back to absolute
 * numbers by their forward distance from the last acknowledged block; windows are
 * capped below 32768 so that mapping is unambiguous.
 *
 * ACK rules:
 * - ACK of the last block of the window: slide, send the next window.
 * - Partial ACK (RFC 7440 §4: a block inside the window that is not its last, sent by a
 *   receiver that saw a gap or timed out): restart the window from that block + 1.
 *   Every restart is caused by a *new* acknowledged block, so restarts are bounded by
 *   the file's block count.
 * - Duplicate ACK (the block already acknowledged) and stale ACKs (older): ignored.
 *   Answering duplicates is the Sorcerer's Apprentice bug (RFC 1123 §4.2.3.1): every
 *   duplicate DATA provokes a duplicate ACK, which would provoke a duplicate DATA, for
 *   the rest of the transfer. Lost packets are recovered by our own timer instead.
 *
 * A client ERROR while the client has acknowledged at most block 1 is a **probe**, not a
 * failure: Pi firmware checks whether a file exists by reading its first block (or just
 * the OACK/tsize) and then sending ERROR 0 "Early terminate" (fw#1129, rpi-eeprom#74).
 *
 * No amplification towards a source that never acknowledged (issue 10): an RRQ's source
 * address can be forged, so until the first valid ACK only **one** packet is outstanding
 * (the OACK, or DATA 1 — never a window), it is retransmitted at most
 * `maxRetriesBeforeAck` times, and the transfer then ends silently with outcome `no-ack`
 * (no ERROR either). A forged RRQ thus costs the victim at most 1 + maxRetriesBeforeAck
 * packets of at most one block; the server caps transfers per client address on top.
 */

export type TransferOutcome = 'complete' | 'probe' | 'client-error' | 'timeout' | 'no-ack';

export interface TransferParams {
  /** Bytes to send (after netascii conversion). */
  readonly sizeBytes: number;
  readonly blksize: number;
  /** RFC 7440 window; 1 = lock-step. */
  readonly windowsize: number;
  /** Whether an OACK precedes the data (the client's ACK 0 then starts the data). */
  readonly oack: boolean;
  /** Consecutive timeouts without progress before giving up. */
  readonly maxRetries: number;
  /** Retransmits of the first packet before the client's first ACK (default: maxRetries). */
  readonly maxRetriesBeforeAck?: number;
}

export type TransferStep =
  /** Send the OACK (when `oack`) and/or DATA blocks `first .. first+count-1` (absolute). */
  | { readonly kind: 'send'; readonly oack: boolean; readonly first: number; readonly count: number }
  /** Nothing to send; the event was ignored for `reason`. */
  | { readonly kind: 'ignore'; readonly reason: 'duplicate-ack' | 'stale-ack' | 'not-oack-ack' | 'finished' }
  /** The transfer is over; `error` is an ERROR to send to the client first, if any. */
  | {
      readonly kind: 'done';
      readonly outcome: TransferOutcome;
      readonly reason?: string;
      readonly error?: { readonly code: number; readonly message: string };
    };

export type TransferPhase = 'new' | 'oack-sent' | 'sending' | 'done';

export class ReadTransfer {
  readonly params: TransferParams;
  /** Absolute number of the final block (always shorter than blksize, possibly empty). */
  readonly lastBlock: number;
  private phase: TransferPhase = 'new';
  /** Highest block the client acknowledged (0 = none, or the OACK). */
  private acked = 0;
  /** Highest block ever sent. */
  private sentUpTo = 0;
  private retries = 0;
  /** Whether the client has acknowledged anything (ACK 0 of the OACK or a DATA block). */
  private heard = false;
  private outcomeValue: TransferOutcome | undefined;
  /** Statistics for the boot event and metrics. */
  retransmits = 0;
  packetsSent = 0;
  payloadBytesSent = 0;

  constructor(params: TransferParams) {
    if (params.windowsize < 1 || params.windowsize > 32767) throw new RangeError('windowsize out of range');
    if (params.blksize < 1) throw new RangeError('blksize out of range');
    this.params = params;
    this.lastBlock = Math.floor(params.sizeBytes / params.blksize) + 1;
  }

  get state(): TransferPhase {
    return this.phase;
  }
  get outcome(): TransferOutcome | undefined {
    return this.outcomeValue;
  }
  /** Whether the client ever acknowledged (its source address is then not a forgery). */
  get acknowledged(): boolean {
    return this.heard;
  }
  /** Highest block the client acknowledged. */
  get ackedBlock(): number {
    return this.acked;
  }
  /** File bytes the client has acknowledged. */
  get bytesAcked(): number {
    return Math.min(this.acked * this.params.blksize, this.params.sizeBytes);
  }

  /** Wire block number of absolute block `n` (rollover to 0). */
  static wireBlock(n: number): number {
    return n & 0xffff;
  }

  /** Byte range `[start, end)` of absolute block `n` in the file. */
  blockRange(n: number): [number, number] {
    const start = (n - 1) * this.params.blksize;
    return [start, Math.min(start + this.params.blksize, this.params.sizeBytes)];
  }

  start(): TransferStep {
    if (this.phase !== 'new') throw new Error('transfer already started');
    if (this.params.oack) {
      this.phase = 'oack-sent';
      this.packetsSent++;
      return { kind: 'send', oack: true, first: 1, count: 0 };
    }
    this.phase = 'sending';
    return this.sendWindow(1);
  }

  onAck(wireBlock: number): TransferStep {
    if (this.phase === 'done' || this.phase === 'new') return { kind: 'ignore', reason: 'finished' };
    if (this.phase === 'oack-sent') {
      if (wireBlock !== 0) return { kind: 'ignore', reason: 'not-oack-ack' };
      this.phase = 'sending';
      this.retries = 0;
      this.heard = true;
      return this.sendWindow(1);
    }
    const distance = (wireBlock - this.acked) & 0xffff;
    if (distance === 0) return { kind: 'ignore', reason: 'duplicate-ack' };
    if (distance > this.sentUpTo - this.acked) return { kind: 'ignore', reason: 'stale-ack' };
    this.acked += distance;
    this.retries = 0;
    this.heard = true;
    if (this.acked >= this.lastBlock) return this.finish('complete');
    // Slide on a full-window ACK; restart from acked + 1 on a partial one. Both are the
    // same computation: the next window starts right after the acknowledged block.
    return this.sendWindow(this.acked + 1);
  }

  /** The client sent ERROR: the transfer ends without a reply (RFC 1350 §7). */
  onError(code: number, message: string): TransferStep {
    if (this.phase === 'done') return { kind: 'ignore', reason: 'finished' };
    const reason = `client error ${code}: ${message}`;
    return this.finish(this.acked <= 1 ? 'probe' : 'client-error', reason);
  }

  onTimeout(): TransferStep {
    if (this.phase === 'done' || this.phase === 'new') return { kind: 'ignore', reason: 'finished' };
    if (!this.heard) {
      const limit = this.params.maxRetriesBeforeAck ?? this.params.maxRetries;
      if (this.retries >= limit) return this.finish('no-ack', `no ACK from the source after ${this.retries} retransmits`);
    } else if (this.retries >= this.params.maxRetries) {
      return this.finish('timeout', `no ACK after ${this.retries} retransmits`, { code: 0, message: 'timeout' });
    }
    this.retries++;
    if (this.phase === 'oack-sent') {
      this.retransmits++;
      this.packetsSent++;
      return { kind: 'send', oack: true, first: 1, count: 0 };
    }
    return this.sendWindow(this.acked + 1);
  }

  private sendWindow(first: number): TransferStep {
    // One packet outstanding until the source has proved it is real (see the header).
    const window = this.heard ? this.params.windowsize : 1;
    const last = Math.min(first + window - 1, this.lastBlock);
    const count = last - first + 1;
    // Blocks at or below sentUpTo were sent before: retransmits.
    if (this.sentUpTo >= first) this.retransmits += Math.min(this.sentUpTo, last) - first + 1;
    if (last > this.sentUpTo) this.sentUpTo = last;
    this.packetsSent += count;
    const [startByte] = this.blockRange(first);
    const [, endByte] = this.blockRange(last);
    this.payloadBytesSent += endByte - startByte;
    return { kind: 'send', oack: false, first, count };
  }

  private finish(outcome: TransferOutcome, reason?: string, error?: { code: number; message: string }): TransferStep {
    this.phase = 'done';
    this.outcomeValue = outcome;
    return {
      kind: 'done',
      outcome,
      ...(reason === undefined ? {} : { reason }),
      ...(error === undefined ? {} : { error }),
    };
  }
}
