import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';
import { OutputCoalescer, TailBuffer } from './output.ts';

describe('TailBuffer', () => {
  it('keeps everything under the limit', () => {
    const t = new TailBuffer(10);
    t.push(Buffer.from('abc'));
    t.push(Buffer.from('def'));
    expect(t.text()).toBe('abcdef');
    expect(t.truncated).toBe(0);
  });

  it('keeps the last N bytes across chunks and counts the dropped head', () => {
    const t = new TailBuffer(5);
    for (const s of ['0123', '4567', '89']) t.push(Buffer.from(s));
    expect(t.text()).toBe('56789');
    expect(t.truncated).toBe(5);
    t.push(Buffer.from('abcdefghij'));
    expect(t.text()).toBe('fghij');
    expect(t.truncated).toBe(15);
  });

  it('drops a multi-byte character cut in half at the head, and counts it', () => {
    const t = new TailBuffer(5);
    t.push(Buffer.from('aé€x')); // a(1) é(2) €(3) x(1) = 7 bytes; the tail 5 starts inside é
    expect(t.text()).toBe('€x');
    expect(t.truncated).toBe(3);
  });
});

describe('OutputCoalescer', () => {
  it('flushes at the byte threshold, decodes UTF-8 across chunks, and stops at the stream limit', () => {
    const frames: string[] = [];
    const c = new OutputCoalescer({ flushMs: 60_000, flushBytes: 4, streamLimitBytes: 9, emit: (d) => frames.push(d) });
    const euro = Buffer.from('€');
    c.push(Buffer.from('ab'));
    c.push(euro.subarray(0, 1));
    expect(frames).toEqual([]);
    c.push(euro.subarray(1));
    expect(frames).toEqual(['ab€']);
    c.push(Buffer.from('0123456789'));
    c.end();
    expect(frames).toEqual(['ab€', '0123']);
  });
});

describe('backoffDelay', () => {
  const o = { baseMs: 250, capMs: 10_000, minMs: 50 };
  it.each([
    [0, 1, 250],
    [3, 1, 2000],
    [6, 1, 10_000],
    [100, 1, 10_000],
    [0, 0, 50],
    [5, 0.5, 4025],
  ])('attempt %i with random %d → %i ms', (attempt, r, ms) => {
    expect(backoffDelay(attempt, { ...o, random: () => r })).toBe(ms);
  });
});
