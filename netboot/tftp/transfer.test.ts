import { describe, expect, it } from 'vitest';
import { ReadTransfer, type TransferParams, type TransferStep } from './transfer.ts';

const base: TransferParams = { sizeBytes: 5 * 512 + 100, blksize: 512, windowsize: 1, oack: false, maxRetries: 3 };
const send = (first: number, count: number, oack = false): TransferStep => ({ kind: 'send', oack, first, count });

type Event = ['start'] | ['ack', number] | ['timeout'] | ['error', number, string];

function run(params: Partial<TransferParams>, events: Event[]): TransferStep[] {
  const t = new ReadTransfer({ ...base, ...params });
  return events.map((e) => {
    switch (e[0]) {
      case 'start':
        return t.start();
      case 'ack':
        return t.onAck(e[1]);
      case 'timeout':
        return t.onTimeout();
      case 'error':
        return t.onError(e[1], e[2]);
    }
  });
}

describe('ReadTransfer', () => {
  it.each<[string, Partial<TransferParams>, Event[], TransferStep[]]>([
    [
      'lock-step without options',
      {},
      [['start'], ['ack', 1], ['ack', 2], ['ack', 3], ['ack', 4], ['ack', 5], ['ack', 6]],
      [send(1, 1), send(2, 1), send(3, 1), send(4, 1), send(5, 1), send(6, 1), { kind: 'done', outcome: 'complete' }],
    ],
    [
      'OACK first, ACK 0 starts the data',
      { oack: true, sizeBytes: 100 },
      [['start'], ['ack', 5], ['ack', 0], ['ack', 1]],
      [send(1, 0, true), { kind: 'ignore', reason: 'not-oack-ack' }, send(1, 1), { kind: 'done', outcome: 'complete' }],
    ],
    [
      'a file that is a multiple of blksize ends with an empty block',
      { sizeBytes: 1024 },
      [['start'], ['ack', 1], ['ack', 2], ['ack', 3]],
      [send(1, 1), send(2, 1), send(3, 1), { kind: 'done', outcome: 'complete' }],
    ],
    ['an empty file is one empty block', { sizeBytes: 0 }, [['start'], ['ack', 1]], [send(1, 1), { kind: 'done', outcome: 'complete' }]],
    [
      "lock-step duplicate ACK is ignored (no Sorcerer's Apprentice)",
      {},
      [['start'], ['ack', 1], ['ack', 1], ['ack', 1], ['ack', 2]],
      [send(1, 1), send(2, 1), { kind: 'ignore', reason: 'duplicate-ack' }, { kind: 'ignore', reason: 'duplicate-ack' }, send(3, 1)],
    ],
    [
      'stale and future ACKs are ignored',
      {},
      [['start'], ['ack', 1], ['ack', 2], ['ack', 1], ['ack', 9], ['ack', 3]],
      [send(1, 1), send(2, 1), send(3, 1), { kind: 'ignore', reason: 'stale-ack' }, { kind: 'ignore', reason: 'stale-ack' }, send(4, 1)],
    ],
    [
      'windowed: full-window ACK slides, last window is short',
      { windowsize: 4, oack: true },
      [['start'], ['ack', 0], ['ack', 4], ['ack', 6]],
      [send(1, 0, true), send(1, 4), send(5, 2), { kind: 'done', outcome: 'complete' }],
    ],
    [
      'windowed: partial ACK restarts from the acked block + 1, duplicates of it are ignored',
      { windowsize: 4, sizeBytes: 20 * 512, oack: true },
      [['start'], ['ack', 0], ['ack', 2], ['ack', 2], ['ack', 2], ['ack', 6]],
      [send(1, 0, true), send(1, 4), send(3, 4), { kind: 'ignore', reason: 'duplicate-ack' }, { kind: 'ignore', reason: 'duplicate-ack' }, send(7, 4)],
    ],
    [
      'windowed: an ACK for an earlier window is stale',
      { windowsize: 4, sizeBytes: 20 * 512, oack: true },
      [['start'], ['ack', 0], ['ack', 4], ['ack', 3]],
      [send(1, 0, true), send(1, 4), send(5, 4), { kind: 'ignore', reason: 'stale-ack' }],
    ],
    [
      'timeout resends the unacknowledged window, then gives up after maxRetries',
      { windowsize: 4, sizeBytes: 20 * 512, maxRetries: 2, oack: true },
      [['start'], ['ack', 0], ['ack', 4], ['timeout'], ['ack', 6], ['timeout'], ['timeout'], ['timeout'], ['ack', 10]],
      [
        send(1, 0, true),
        send(1, 4),
        send(5, 4),
        send(5, 4),
        send(7, 4),
        send(7, 4),
        send(7, 4),
        { kind: 'done', outcome: 'timeout', reason: 'no ACK after 2 retransmits', error: { code: 0, message: 'timeout' } },
        { kind: 'ignore', reason: 'finished' },
      ],
    ],
    [
      'OACK is retransmitted on timeout, then the unanswered source is dropped silently',
      { oack: true, maxRetries: 1 },
      [['start'], ['timeout'], ['timeout']],
      [send(1, 0, true), send(1, 0, true), { kind: 'done', outcome: 'no-ack', reason: 'no ACK from the source after 1 retransmits' }],
    ],
    [
      'before the first ACK only one packet is outstanding, resent at most maxRetriesBeforeAck times',
      { oack: true, windowsize: 8, sizeBytes: 20 * 512, maxRetries: 5, maxRetriesBeforeAck: 2 },
      [['start'], ['timeout'], ['timeout'], ['timeout'], ['ack', 0]],
      [
        send(1, 0, true),
        send(1, 0, true),
        send(1, 0, true),
        { kind: 'done', outcome: 'no-ack', reason: 'no ACK from the source after 2 retransmits' },
        { kind: 'ignore', reason: 'finished' },
      ],
    ],
    [
      'without options DATA 1 alone goes out until the first ACK; then maxRetries applies',
      { maxRetries: 2, maxRetriesBeforeAck: 1 },
      [['start'], ['timeout'], ['ack', 1], ['timeout'], ['timeout'], ['timeout']],
      [
        send(1, 1),
        send(1, 1),
        send(2, 1),
        send(2, 1),
        send(2, 1),
        { kind: 'done', outcome: 'timeout', reason: 'no ACK after 2 retransmits', error: { code: 0, message: 'timeout' } },
      ],
    ],
    [
      'a window is never sent to a source that has not acknowledged (defence in depth)',
      { windowsize: 4, sizeBytes: 20 * 512 },
      [['start'], ['timeout'], ['ack', 1]],
      [send(1, 1), send(1, 1), send(2, 4)],
    ],
    [
      'a window never goes out before ACK 0, even if windowsize was granted',
      { oack: true, windowsize: 8, sizeBytes: 20 * 512, maxRetriesBeforeAck: 0 },
      [['start'], ['ack', 0], ['ack', 8]],
      [send(1, 0, true), send(1, 8), send(9, 8)],
    ],
    [
      'Pi probe: ERROR "Early terminate" after block 1 is a probe',
      { oack: true },
      [['start'], ['ack', 0], ['error', 0, 'Early terminate']],
      [send(1, 0, true), send(1, 1), { kind: 'done', outcome: 'probe', reason: 'client error 0: Early terminate' }],
    ],
    [
      'Pi probe: ERROR right after the OACK (tsize query) is a probe',
      { oack: true },
      [['start'], ['error', 0, 'Early terminate']],
      [send(1, 0, true), { kind: 'done', outcome: 'probe', reason: 'client error 0: Early terminate' }],
    ],
    [
      'a client ERROR later is a client-error',
      {},
      [['start'], ['ack', 1], ['ack', 2], ['error', 3, 'disk full'], ['ack', 3]],
      [
        send(1, 1),
        send(2, 1),
        send(3, 1),
        { kind: 'done', outcome: 'client-error', reason: 'client error 3: disk full' },
        { kind: 'ignore', reason: 'finished' },
      ],
    ],
  ])('%s', (_name, params, events, want) => {
    expect(run(params, events)).toEqual(want);
  });

  it('block numbers roll over from 65535 to 0 (lock-step)', () => {
    const t = new ReadTransfer({ ...base, blksize: 8, sizeBytes: 8 * 65537 + 3 });
    expect(t.lastBlock).toBe(65538);
    t.start();
    for (let n = 1; n < 65535; n++) t.onAck(n);
    expect(t.onAck(65535)).toEqual(send(65536, 1));
    expect(ReadTransfer.wireBlock(65536)).toBe(0);
    expect(t.blockRange(65536)).toEqual([8 * 65535, 8 * 65536]);
    expect(t.onAck(65535)).toEqual({ kind: 'ignore', reason: 'duplicate-ack' });
    expect(t.onAck(0)).toEqual(send(65537, 1));
    expect(t.onAck(1)).toEqual(send(65538, 1));
    expect(t.blockRange(65538)).toEqual([8 * 65537, 8 * 65537 + 3]);
    expect(t.onAck(2)).toEqual({ kind: 'done', outcome: 'complete' });
    expect(t.retransmits).toBe(0);
    expect(t.bytesAcked).toBe(8 * 65537 + 3);
  });

  it('windows straddle the rollover and partial ACKs map across it', () => {
    const t = new ReadTransfer({ ...base, blksize: 8, windowsize: 8, sizeBytes: 8 * 70000, oack: true });
    t.start();
    t.onAck(0);
    let acked = 0;
    while (acked + 8 <= 65530) {
      acked += 8;
      t.onAck(acked & 0xffff);
    }
    expect(acked).toBe(65528);
    // Window 65529..65536 is out; the client saw up to wire 65535 and lost wire 0 (block 65536).
    expect(t.onAck(65535)).toEqual(send(65536, 8));
    expect(t.onAck(3)).toEqual(send(65540, 8)); // 65539 = wire 3: partial ACK across the wrap
    expect(t.ackedBlock).toBe(65539);
    expect(t.retransmits).toBe(1 + 4); // block 65536 once, then 65540..65543
  });

  it('counts retransmitted packets and bytes sent', () => {
    const t = new ReadTransfer({ ...base, windowsize: 4, sizeBytes: 10 * 512, oack: true });
    t.start(); // OACK
    t.onAck(0); // 1-4
    t.onAck(2); // 3-6: 3,4 again
    t.onTimeout(); // 3-6 again
    expect(t.retransmits).toBe(2 + 4);
    expect(t.packetsSent).toBe(13);
    expect(t.payloadBytesSent).toBe(12 * 512);
  });

  it('rejects windows that would make 16-bit ACKs ambiguous', () => {
    expect(() => new ReadTransfer({ ...base, windowsize: 32768 })).toThrow(RangeError);
  });
});
