import { describe, expect, it } from 'vitest';
import { SilenceWatch, tickVerdict } from './link-health.ts';

describe('tickVerdict', () => {
  const hb = 1000;
  it.each([
    // now, lastSeen, lastTickAt, skippedLast, verdict
    [10_000, 9_000, 9_000, false, 'ok'], // heard a second ago
    [10_000, 4_999, 9_000, false, 'silent'], // nothing for over 5 s (3 heartbeats is less), ticks on time
    [10_000, 4_999, undefined, false, 'silent'], // the first tick of a link judges too
    [10_000, 4_999, 6_999, false, 'late'], // this tick came 3 s after the last: starved, frames may be unread
    [10_000, 4_999, 7_000, false, 'silent'], // 3 s late is the bound (2 heartbeats + 1 s)
    [10_000, 4_999, 6_999, true, 'silent'], // late again right after a skipped tick: judged
    [10_000, 9_000, 6_999, false, 'late'],
  ] as const)('now %d, last frame %d, last tick %s, skipped %s → %s', (now, lastSeen, lastTickAt, skippedLast, verdict) => {
    expect(tickVerdict({ now, lastSeen, lastTickAt, heartbeatMs: hb, skippedLast })).toBe(verdict);
  });

  it('slow heartbeats stretch the bound to 3 of them', () => {
    expect(tickVerdict({ now: 100_000, lastSeen: 71_000, lastTickAt: 90_000, heartbeatMs: 10_000, skippedLast: false })).toBe('ok');
    expect(tickVerdict({ now: 100_000, lastSeen: 69_999, lastTickAt: 90_000, heartbeatMs: 10_000, skippedLast: false })).toBe('silent');
  });
});

describe('SilenceWatch', () => {
  it('skips one late tick, never two in a row: a process late at every tick is still judged', () => {
    const w = new SilenceWatch();
    expect(w.tick(0, 0, 1000)).toBe(false);
    expect(w.tick(10_000, 0, 1000)).toBe(false); // late: not judged
    expect(w.tick(20_000, 0, 1000)).toBe(true); // late again: judged, and silent
  });

  it('a reset (a new welcome) forgets the last tick', () => {
    const w = new SilenceWatch();
    w.tick(0, 0, 1000);
    w.reset();
    expect(w.tick(10_000, 0, 1000)).toBe(true); // no last tick to be late against
  });
});
