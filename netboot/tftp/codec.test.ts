import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataHeader, decodePacket, encodePacket, peekAckBlock, toNetascii, type TftpPacket } from './codec.ts';
import { DecodeError } from './errors.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');

function readHex(file: string): Buffer {
  const text = readFileSync(join(FIXTURES, file), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('');
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

const goldens = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.hex'))
  .map((f) => f.slice(0, -4));

describe('golden packets from real Pi traffic', () => {
  it('has the fixtures the issue names', () => {
    expect(goldens).toEqual(expect.arrayContaining(['pi3-rom-bootcode-rrq', 'pi3-bootcode-start-elf-tsize-rrq', 'pi4-start-elf-tsize-blksize-rrq']));
  });
  it.each(goldens)('%s decodes to its checked-in form and re-encodes byte for byte', (name) => {
    const bytes = readHex(`${name}.hex`);
    const want = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as TftpPacket;
    const got = decodePacket(bytes);
    expect(got).toEqual(want);
    expect(encodePacket(got).equals(bytes)).toBe(true);
  });
  it('the Pi 3 boot ROM RRQ is 21 bytes and the Pi 4 one 48 (pi-netboot.md §1.3, §2)', () => {
    expect(readHex('pi3-rom-bootcode-rrq.hex')).toHaveLength(21);
    expect(readHex('pi4-start-elf-tsize-blksize-rrq.hex')).toHaveLength(48);
  });
});

describe('round trip', () => {
  const packets: TftpPacket[] = [
    { op: 'rrq', filename: 'a/b.bin', mode: 'netascii', options: [{ name: 'windowsize', value: '8' }] },
    { op: 'wrq', filename: 'x', mode: 'octet', options: [] },
    { op: 'data', block: 65535, data: Buffer.from('hello') },
    { op: 'data', block: 0, data: Buffer.alloc(0) },
    { op: 'ack', block: 1234 },
    { op: 'error', code: 1, message: 'file not found' },
    {
      op: 'oack',
      options: [
        { name: 'blksize', value: '1468' },
        { name: 'tsize', value: '123' },
      ],
    },
  ];
  it.each(packets.map((p) => [p.op, p] as const))('%s', (_op, p) => {
    expect(decodePacket(encodePacket(p))).toEqual(p);
  });
});

describe('decode errors carry an offset and a reason', () => {
  it.each([
    ['empty', '', 0],
    ['one byte', '00', 0],
    ['unknown opcode', '0009', 0],
    ['opcode 0', '0000', 0],
    ['RRQ without NUL after filename', '000161', 2],
    ['RRQ with empty filename', '0001006f6374657400', 2],
    ['RRQ without mode', '00016100', 4],
    ['RRQ option without value', '00016100' + Buffer.from('octet').toString('hex') + '00' + Buffer.from('tsize').toString('hex') + '00', 16],
    ['RRQ option value without NUL', '00016100' + Buffer.from('octet').toString('hex') + '00' + Buffer.from('tsize').toString('hex') + '0030', 16],
    ['short ACK', '000400', 2],
    ['short DATA', '0003', 2],
    ['short ERROR', '000500', 2],
  ])('%s', (_name, hex, offset) => {
    let err: unknown;
    try {
      decodePacket(Buffer.from(hex, 'hex'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).offset).toBe(offset);
    expect((err as DecodeError).reason).toMatch(/\w/);
  });
});

describe('tolerance', () => {
  it('ignores NUL padding after the options', () => {
    const buf = Buffer.concat([readHex('pi3-rom-bootcode-rrq.hex'), Buffer.alloc(11)]);
    expect(decodePacket(buf)).toEqual({ op: 'rrq', filename: 'bootcode.bin', mode: 'octet', options: [] });
  });
  it('ignores bytes after an ACK block number (the Pi 5 pads ACKs, fw#1898)', () => {
    expect(decodePacket(Buffer.from('000400070000000000', 'hex'))).toEqual({ op: 'ack', block: 7 });
  });
  it('accepts an ERROR whose message lacks its NUL', () => {
    expect(decodePacket(Buffer.from('000500006869', 'hex'))).toEqual({ op: 'error', code: 0, message: 'hi' });
  });
});

describe('fast paths', () => {
  it('peekAckBlock reads ACKs only', () => {
    expect(peekAckBlock(Buffer.from('0004fffe', 'hex'))).toBe(0xfffe);
    expect(peekAckBlock(Buffer.from('0003fffe', 'hex'))).toBeUndefined();
    expect(peekAckBlock(Buffer.from('0004ff', 'hex'))).toBeUndefined();
  });
  it('dataHeader is the DATA header for the 16-bit block, shared', () => {
    expect(dataHeader(1).toString('hex')).toBe('00030001');
    expect(dataHeader(65536 + 2).toString('hex')).toBe('00030002');
    expect(dataHeader(65535).toString('hex')).toBe('0003ffff');
    expect(dataHeader(7)).toBe(dataHeader(7));
  });
});

describe('netascii', () => {
  it.each([
    ['a\nb', 'a\r\nb'],
    ['a\rb', 'a\r\0b'],
    ['a\r\nb', 'a\r\0\r\nb'],
    ['plain', 'plain'],
  ])('%j → %j', (src, want) => expect(toNetascii(Buffer.from(src, 'latin1')).toString('latin1')).toBe(want));
});
