/**
 * Loss: a lossy sender wrapped around both the server's sockets and the client's drops
 * 1–5 % of datagrams (seeded, so a failure replays); lock-step and windowed transfers
 * must still deliver the exact bytes, and recover through retransmits, never duplicates
 * snowballing (the transfer finishes in a bounded number of packets).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tftpGet } from './testing/client.ts';
import { startHarness } from './testing/harness.ts';
import { makeLossy, seededRandom, type LossStats } from './testing/lossy-socket.ts';

describe('transfers under datagram loss', () => {
  it.each([
    ['lock-step', 0.01, 1, 512, 11],
    ['lock-step', 0.05, 1, 1468, 12],
    ['windowed', 0.01, 8, 1468, 13],
    ['windowed', 0.03, 16, 1024, 14],
    ['windowed', 0.05, 8, 512, 15],
  ])('%s with %d loss (windowsize %d, blksize %d, seed %d)', async (_kind, rate, windowsize, blksize, seed) => {
    // one stream per side, so the server's drops fall on the same datagrams however the two interleave
    const serverRandom = seededRandom(seed);
    const clientRandom = seededRandom(seed + 1000);
    const serverStats: LossStats = { sent: 0, dropped: 0 };
    const clientStats: LossStats = { sent: 0, dropped: 0 };
    const h = await startHarness({
      tftp: { retransmitMs: 15, maxRetries: 50, windowsizeMax: 64 },
      wrapSocket: (s) => makeLossy(s, rate, serverRandom, serverStats),
    });
    try {
      const content = randomBytes(300_000);
      writeFileSync(join(h.root, 'f'), content);
      const done = h.event((e) => e.detail?.file === 'f');
      const r = await tftpGet({
        port: h.port,
        file: 'f',
        options: [{ name: 'blksize', value: String(blksize) }, ...(windowsize > 1 ? [{ name: 'windowsize', value: String(windowsize) }] : [])],
        timeoutMs: 40,
        maxRetries: 100,
        wrap: (s) => makeLossy(s, rate, clientRandom, clientStats),
        dallyUntil: done,
      });
      expect(r.data.length).toBe(content.length);
      expect(r.data.equals(content)).toBe(true);
      const e = await done;
      expect(e.outcome).toBe('complete');
      const blocks = Math.ceil(content.length / blksize);
      // The server lost datagrams (with these seeds it always does) and repaired them by retransmits …
      expect(serverStats.dropped).toBeGreaterThan(0);
      expect(e.detail?.retransmits).toBeGreaterThan(0);
      // … without a Sorcerer's Apprentice blow-up.
      expect(Number(e.detail?.retransmits)).toBeLessThan(blocks);
    } finally {
      await h.close();
    }
  });
});
