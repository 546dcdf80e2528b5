/** Keeps the last `limitBytes` of a stream (by UTF-16 length, close enough for a bound) and counts what it dropped. */
export class OutputBuffer {
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
