/**
 * Bounded tails of a stream, counting what they dropped from the head:
 * - `TailBuffer`: the last N bytes of a byte stream (the agent's result stdout/stderr);
 * - `TextTailBuffer`: the last N characters of a text stream (the master's live output of a running attempt).
 */

export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes dropped from the head. */
  truncated = 0;

  constructor(private readonly limitBytes: number) {}

  push(chunk: Buffer): void {
    if (chunk.length >= this.limitBytes) {
      this.truncated += this.size + chunk.length - this.limitBytes;
      this.chunks = [chunk.subarray(chunk.length - this.limitBytes)];
      this.size = this.limitBytes;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limitBytes) {
      const head = this.chunks[0]!;
      const excess = this.size - this.limitBytes;
      if (head.length <= excess) {
        this.chunks.shift();
        this.size -= head.length;
        this.truncated += head.length;
      } else {
        this.chunks[0] = head.subarray(excess);
        this.size -= excess;
        this.truncated += excess;
      }
    }
  }

  /** The kept bytes as text. After a cut, a partial UTF-8 sequence at the head is dropped (and counted). */
  text(): string {
    let buf = Buffer.concat(this.chunks, this.size);
    if (this.truncated > 0) {
      let skip = 0;
      while (skip < buf.length && skip < 3 && (buf[skip]! & 0xc0) === 0x80) skip++;
      if (skip > 0) {
        buf = buf.subarray(skip);
        this.truncated += skip;
        this.size -= skip;
        this.chunks = [buf];
      }
    }
    return buf.toString('utf8');
  }
}

/** Keeps the last `limitBytes` of a stream (by UTF-16 length, close enough for a bound) and counts what it dropped. */
export class TextTailBuffer {
  private chunks: string[] = [];
  private length = 0;
  dropped = 0;

  constructor(private readonly limitBytes: number) {}

  append(data: string): void {
    this.chunks.push(data);
    this.length += data.length;
    if (this.length > this.limitBytes * 2) this.trim();
  }

  text(): string {
    this.trim();
    return this.chunks.join('');
  }

  private trim(): void {
    if (this.length <= this.limitBytes) return;
    const all = this.chunks.join('');
    const cut = all.length - this.limitBytes;
    this.dropped += cut;
    this.chunks = [all.slice(cut)];
    this.length = this.limitBytes;
  }
}
