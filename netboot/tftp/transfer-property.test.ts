/**
 * Properties of the transfer state machine over arbitrary event sequences (fast-check):
 * the no-amplification rule (issue 10) and bounded retransmits hold whatever a client —
 * or a forger — does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReadTransfer, type TransferStep } from './transfer.ts';

const event = fc.oneof(
  fc.constant({ kind: 'timeout' as const }),
  fc.record({ kind: fc.constant('ack' as const), block: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ kind: fc.constant('error' as const), code: fc.integer({ min: 0, max: 8 }) }),
);
const params = fc.record({
  sizeBytes: fc.integer({ min: 0, max: 200_000 }),
  blksize: fc.constantFrom(8, 512, 1024, 1468),
  windowsize: fc.integer({ min: 1, max: 64 }),
  oack: fc.boolean(),
  maxRetries: fc.integer({ min: 0, max: 6 }),
  maxRetriesBeforeAck: fc.integer({ min: 0, max: 4 }),
});

describe('ReadTransfer properties', () => {
  it('before the first ACK: one packet per send, at most 1 + maxRetriesBeforeAck sends, then a silent end', () => {
    fc.assert(
      fc.property(params, fc.integer({ min: 0, max: 20 }), (p, timeouts) => {
        const t = new ReadTransfer(p);
        const steps: TransferStep[] = [t.start()];
        for (let i = 0; i < timeouts; i++) steps.push(t.onTimeout());
        const sends = steps.filter((s) => s.kind === 'send');
        for (const s of sends) expect((s.oack ? 1 : 0) + s.count).toBe(1);
        expect(sends.length).toBeLessThanOrEqual(1 + p.maxRetriesBeforeAck);
        const done = steps.find((s) => s.kind === 'done');
        if (done) expect(done).toMatchObject({ outcome: 'no-ack' });
        if (done && done.kind === 'done') expect(done.error).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it('any event sequence: windows never exceed windowsize, consecutive timeouts are bounded, nothing is sent after done', () => {
    fc.assert(
      fc.property(params, fc.array(event, { maxLength: 300 }), (p, events) => {
        const t = new ReadTransfer(p);
        let finished = t.start().kind === 'done';
        let streak = 0;
        for (const e of events) {
          const s = e.kind === 'timeout' ? t.onTimeout() : e.kind === 'ack' ? t.onAck(e.block) : t.onError(e.code, 'x');
          if (finished) expect(s.kind).toBe('ignore');
          if (s.kind === 'send') {
            expect(s.count).toBeLessThanOrEqual(p.windowsize);
            expect(s.first).toBeGreaterThanOrEqual(1);
            expect(s.first + s.count - 1).toBeLessThanOrEqual(t.lastBlock);
          }
          if (s.kind === 'done') finished = true;
          streak = e.kind === 'timeout' ? streak + 1 : 0;
          if (!finished) expect(streak).toBeLessThanOrEqual(Math.max(p.maxRetries, p.maxRetriesBeforeAck));
        }
      }),
      { numRuns: 500 },
    );
  });
});
