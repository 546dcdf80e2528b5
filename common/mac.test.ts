import { describe, expect, it } from 'vitest';
import { macFromBytes, normalizeMac, normalizeSerial } from './mac.ts';
import { deriveNodeToken, verifyNodeToken } from './tokens.ts';

describe('normalizeMac', () => {
  it.each([
    ['B8:27:EB:28:F6:6D', 'b8:27:eb:28:f6:6d'],
    ['b8-27-eb-28-f6-6d', 'b8:27:eb:28:f6:6d'],
    ['b827eb28f66d', 'b8:27:eb:28:f6:6d'],
    ['  dc:a6:32:01:02:03 ', 'dc:a6:32:01:02:03'],
  ])('%s → %s', (input, want) => expect(normalizeMac(input)).toBe(want));
  it.each(['', 'b8:27:eb:28:f6', 'zz:27:eb:28:f6:6d', 'b8:27:eb:28:f6:6d:00'])('rejects %j', (input) => expect(normalizeMac(input)).toBeUndefined());
  it('formats bytes', () => expect(macFromBytes(Buffer.from([0xb8, 0x27, 0xeb, 1, 2, 0xff]))).toBe('b8:27:eb:01:02:ff'));
});

describe('normalizeSerial', () => {
  it.each([
    ['89EB9BB9', '89eb9bb9'],
    ['0x89eb9bb9', '89eb9bb9'],
    ['100000003a5c9cb1', '3a5c9cb1'],
  ])('%s → %s', (input, want) => expect(normalizeSerial(input)).toBe(want));
  it.each(['', '89eb9bb', 'nothex12'])('rejects %j', (input) => expect(normalizeSerial(input)).toBeUndefined());
});

describe('node tokens', () => {
  it('verify only for the node they were derived for', () => {
    const t = deriveNodeToken('s3cret', 'node6');
    expect(verifyNodeToken('s3cret', 'node6', t)).toBe(true);
    expect(verifyNodeToken('s3cret', 'node7', t)).toBe(false);
    expect(verifyNodeToken('other', 'node6', t)).toBe(false);
    expect(verifyNodeToken('s3cret', 'node6', t.slice(1))).toBe(false);
  });
});
