import { describe, expect, it } from 'vitest';
import { dispatcherSilent } from './link-health.ts';

describe('dispatcherSilent', () => {
  const hb = 1000;
  it.each([
    // now, lastSeen, lastTickAt, silent
    [10_000, 9_000, 9_000, false], // heard a second ago
    [10_000, 4_999, 9_000, true], // nothing for over 5 s (3 heartbeats is less), ticks on time
    [10_000, 4_999, undefined, true], // the first tick of a link judges too
    [10_000, 4_999, 6_999, false], // this tick came 3 s after the last: starved, frames may be unread
    [10_000, 4_999, 7_000, true], // 3 s late is the bound (2 heartbeats + 1 s)
  ])('now %d, last frame %d, last tick %s → silent %s', (now, lastSeen, lastTickAt, silent) => {
    expect(dispatcherSilent({ now, lastSeen, lastTickAt, heartbeatMs: hb })).toBe(silent);
  });

  it('slow heartbeats stretch the bound to 3 of them', () => {
    expect(dispatcherSilent({ now: 100_000, lastSeen: 71_000, lastTickAt: 90_000, heartbeatMs: 10_000 })).toBe(false);
    expect(dispatcherSilent({ now: 100_000, lastSeen: 69_999, lastTickAt: 90_000, heartbeatMs: 10_000 })).toBe(true);
  });
});
