import { describe, expect, it } from 'vitest';
import { decideRequest, negotiateOptions, oackOptions } from './options.ts';
import type { TftpOption } from './codec.ts';

const limits = { blksizeMax: 1468, windowsizeMax: 64 };
const opts = (...pairs: [string, string][]): TftpOption[] => pairs.map(([name, value]) => ({ name, value }));

describe('negotiateOptions', () => {
  it.each([
    ['no options: lock-step 512, no OACK', opts(), { blksize: 512, windowsize: 1, accepted: [] }],
    ['Pi 4: tsize then blksize 1024, order kept', opts(['tsize', '0'], ['blksize', '1024']), { blksize: 1024, windowsize: 1, accepted: ['tsize', 'blksize'] }],
    ['blksize capped at blksizeMax', opts(['blksize', '65464']), { blksize: 1468, windowsize: 1, accepted: ['blksize'] }],
    ['blksize below 8 dropped', opts(['blksize', '7']), { blksize: 512, windowsize: 1, accepted: [] }],
    ['blksize 8 accepted', opts(['blksize', '8']), { blksize: 8, windowsize: 1, accepted: ['blksize'] }],
    ['blksize not a number dropped', opts(['blksize', '1k']), { blksize: 512, windowsize: 1, accepted: [] }],
    ['names are case-insensitive', opts(['BlkSize', '1024'], ['WINDOWSIZE', '8']), { blksize: 1024, windowsize: 8, accepted: ['blksize', 'windowsize'] }],
    ['windowsize capped', opts(['windowsize', '65535']), { blksize: 512, windowsize: 64, accepted: ['windowsize'] }],
    ['windowsize 0 dropped', opts(['windowsize', '0']), { blksize: 512, windowsize: 1, accepted: [] }],
    ['unknown options ignored', opts(['multicast', ''], ['rollover', '0']), { blksize: 512, windowsize: 1, accepted: [] }],
    ['first duplicate wins', opts(['blksize', '1024'], ['blksize', '8']), { blksize: 1024, windowsize: 1, accepted: ['blksize'] }],
    ['timeout 1..255', opts(['timeout', '3'], ['tsize', '0']), { blksize: 512, windowsize: 1, timeoutS: 3, accepted: ['timeout', 'tsize'] }],
    ['timeout 0 dropped', opts(['timeout', '0']), { blksize: 512, windowsize: 1, accepted: [] }],
    ['timeout 256 dropped', opts(['timeout', '256']), { blksize: 512, windowsize: 1, accepted: [] }],
  ])('%s', (_name, options, want) => {
    const got = negotiateOptions(options, limits);
    expect(got).toMatchObject(want);
    if (!('timeoutS' in want)) expect(got.timeoutS).toBeUndefined();
  });

  it('OACK carries the granted values and the real size', () => {
    const n = negotiateOptions(opts(['tsize', '0'], ['blksize', '9000'], ['timeout', '2'], ['windowsize', '8']), limits);
    expect(oackOptions(n, 6660)).toEqual(opts(['tsize', '6660'], ['blksize', '1468'], ['timeout', '2'], ['windowsize', '8']));
  });
});

describe('decideRequest', () => {
  it('refuses writes with an access violation', () => {
    expect(decideRequest({ op: 'wrq', filename: 'x', mode: 'octet', options: [] }, limits)).toMatchObject({ kind: 'refuse', code: 2, reason: 'write-refused' });
  });
  it.each(['mail', 'binary'])('refuses mode %s', (mode) => {
    expect(decideRequest({ op: 'rrq', filename: 'x', mode, options: [] }, limits)).toMatchObject({ kind: 'refuse', code: 4, reason: 'bad-mode' });
  });
  it.each([
    ['octet', false],
    ['OCTET', false],
    ['netascii', true],
    ['NetAscii', true],
  ])('accepts mode %s', (mode, netascii) => {
    expect(decideRequest({ op: 'rrq', filename: 'x', mode, options: [] }, limits)).toMatchObject({ kind: 'accept', netascii });
  });
});
