/**
 * Bounded job output. `TailBuffer` (common/tail-buffers.ts) keeps the last N bytes of a stream for the result (counting what
 * it dropped); `OutputCoalescer` turns many small chunks into few `output` frames (one per
 * `flushMs` or `flushBytes`), decoding UTF-8 across chunk boundaries, and stops streaming once
 * `streamLimitBytes` have gone out — the result still carries the tail.
 */
import { StringDecoder } from 'node:string_decoder';

export { TailBuffer } from '../common/tail-buffers.ts';

export interface CoalescerOptions {
  readonly flushMs: number;
  readonly flushBytes: number;
  readonly streamLimitBytes: number;
  readonly emit: (data: string) => void;
}

export class OutputCoalescer {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private pendingBytes = 0;
  private streamed = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: CoalescerOptions) {}

  push(chunk: Buffer): void {
    if (this.closed) return;
    const room = this.o.streamLimitBytes - this.streamed;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.streamed += part.length;
    this.pending += this.decoder.write(part);
    this.pendingBytes += part.length;
    if (this.pendingBytes >= this.o.flushBytes) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.o.flushMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const data = this.pending;
    this.pending = '';
    this.pendingBytes = 0;
    if (data) this.o.emit(data);
  }

  /** Flushes what is left (including an incomplete trailing character) and stops. */
  end(): void {
    if (this.closed) return;
    if (this.streamed < this.o.streamLimitBytes) this.pending += this.decoder.end();
    this.flush();
    this.closed = true;
  }
}
