/**
 * TFTP wire codec (RFC 1350, OACK from RFC 2347): `Buffer` ⇄ typed packet. Pure: no
 * sockets, timers or logging. A malformed datagram throws `DecodeError { offset, reason }`.
 *
 * Hand-written rather than the npm `tftp` package (0.1.2): that runs at about half
 * dnsmasq's speed, its windowed mode fails under 0.2 % loss, and an unhandled client
 * ERROR crashes the process.
 *
 * Strings are decoded as latin1 (one char per byte, lossless); the virtual root decides
 * which file names are acceptable.
 */
import { DecodeError } from './errors.ts';

export const OP = { rrq: 1, wrq: 2, data: 3, ack: 4, error: 5, oack: 6 } as const;

/** RFC 1350 §5 error codes, plus 8 from RFC 2347. */
export const TFTP_ERROR = {
  notDefined: 0,
  fileNotFound: 1,
  accessViolation: 2,
  diskFull: 3,
  illegalOperation: 4,
  unknownTransferId: 5,
  fileExists: 6,
  noSuchUser: 7,
  optionRefused: 8,
} as const;

/** One `name value` option pair, as sent (RFC 2347 names are case-insensitive). */
export interface TftpOption {
  readonly name: string;
  readonly value: string;
}

export interface RequestPacket {
  readonly op: 'rrq' | 'wrq';
  readonly filename: string;
  readonly mode: string;
  readonly options: readonly TftpOption[];
}
export interface DataPacket {
  readonly op: 'data';
  readonly block: number;
  readonly data: Buffer;
}
export interface AckPacket {
  readonly op: 'ack';
  readonly block: number;
}
export interface ErrorPacket {
  readonly op: 'error';
  readonly code: number;
  readonly message: string;
}
export interface OackPacket {
  readonly op: 'oack';
  readonly options: readonly TftpOption[];
}
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

/** Reads a NUL-terminated latin1 string at `offset`; returns it and the offset after the NUL. */
function readString(buf: Buffer, offset: number, what: string): [string, number] {
  const end = buf.indexOf(0, offset);
  if (end < 0) throw new DecodeError(offset, `${what} is not NUL-terminated`);
  return [buf.toString('latin1', offset, end), end + 1];
}

/**
 * Option pairs until the end of the datagram. Trailing NUL padding is tolerated (some PXE
 * ROMs pad requests); a name without a value is an error.
 */
function readOptions(buf: Buffer, offset: number): TftpOption[] {
  const options: TftpOption[] = [];
  let at = offset;
  while (at < buf.length) {
    if (buf[at] === 0) {
      for (let i = at; i < buf.length; i++) {
        if (buf[i] !== 0) throw new DecodeError(i, 'empty option name');
      }
      break;
    }
    const [name, afterName] = readString(buf, at, 'option name');
    if (afterName >= buf.length) throw new DecodeError(afterName, `option '${name}' has no value`);
    const [value, afterValue] = readString(buf, afterName, `option '${name}' value`);
    options.push({ name, value });
    at = afterValue;
  }
  return options;
}

export function decodePacket(buf: Buffer): TftpPacket {
  if (buf.length < 2) throw new DecodeError(0, 'datagram shorter than an opcode');
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OP.rrq:
    case OP.wrq: {
      const [filename, afterName] = readString(buf, 2, 'filename');
      if (filename.length === 0) throw new DecodeError(2, 'empty filename');
      const [mode, afterMode] = readString(buf, afterName, 'mode');
      if (mode.length === 0) throw new DecodeError(afterName, 'empty mode');
      const options = readOptions(buf, afterMode);
      return { op: op === OP.rrq ? 'rrq' : 'wrq', filename, mode, options };
    }
    case OP.data:
      if (buf.length < 4) throw new DecodeError(2, 'DATA without block number');
      return { op: 'data', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case OP.ack:
      // Bytes past the block number are ignored: the Pi 5 pads ACKs (fw#1898).
      if (buf.length < 4) throw new DecodeError(2, 'ACK without block number');
      return { op: 'ack', block: buf.readUInt16BE(2) };
    case OP.error: {
      if (buf.length < 4) throw new DecodeError(2, 'ERROR without code');
      const code = buf.readUInt16BE(2);
      // Lenient: a message missing its NUL runs to the end of the datagram.
      const end = buf.indexOf(0, 4);
      const message = buf.toString('latin1', 4, end < 0 ? buf.length : end);
      return { op: 'error', code, message };
    }
    case OP.oack:
      return { op: 'oack', options: readOptions(buf, 2) };
    default:
      throw new DecodeError(0, `unknown opcode ${op}`);
  }
}

function stringsLength(strings: readonly string[]): number {
  let n = 0;
  for (const s of strings) n += Buffer.byteLength(s, 'latin1') + 1;
  return n;
}

function writeStrings(buf: Buffer, offset: number, strings: readonly string[]): number {
  let at = offset;
  for (const s of strings) {
    at += buf.write(s, at, 'latin1');
    buf[at++] = 0;
  }
  return at;
}

function optionStrings(options: readonly TftpOption[]): string[] {
  return options.flatMap((o) => [o.name, o.value]);
}

export function encodePacket(p: TftpPacket): Buffer {
  switch (p.op) {
    case 'rrq':
    case 'wrq': {
      const strings = [p.filename, p.mode, ...optionStrings(p.options)];
      const buf = Buffer.alloc(2 + stringsLength(strings));
      buf.writeUInt16BE(p.op === 'rrq' ? OP.rrq : OP.wrq, 0);
      writeStrings(buf, 2, strings);
      return buf;
    }
    case 'data': {
      const buf = Buffer.alloc(4 + p.data.length);
      buf.writeUInt16BE(OP.data, 0);
      buf.writeUInt16BE(p.block & 0xffff, 2);
      p.data.copy(buf, 4);
      return buf;
    }
    case 'ack': {
      const buf = Buffer.alloc(4);
      buf.writeUInt16BE(OP.ack, 0);
      buf.writeUInt16BE(p.block & 0xffff, 2);
      return buf;
    }
    case 'error': {
      const buf = Buffer.alloc(4 + stringsLength([p.message]));
      buf.writeUInt16BE(OP.error, 0);
      buf.writeUInt16BE(p.code, 2);
      writeStrings(buf, 4, [p.message]);
      return buf;
    }
    case 'oack': {
      const strings = optionStrings(p.options);
      const buf = Buffer.alloc(2 + stringsLength(strings));
      buf.writeUInt16BE(OP.oack, 0);
      writeStrings(buf, 2, strings);
      return buf;
    }
  }
}

/**
 * Fast path for the transfer sockets, which see almost only ACKs: the block number of a
 * well-formed ACK, else undefined (then use `decodePacket`).
 */
export function peekAckBlock(buf: Buffer): number | undefined {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== OP.ack) return undefined;
  return (buf[2]! << 8) | buf[3]!;
}

/**
 * DATA headers (`00 03 hi lo`) for every 16-bit block number, created on first use and
 * shared by all transfers. They are never written after creation, so a send that is still
 * queued in the kernel can never see a header change under it, and sending a block costs
 * no allocation.
 */
const headerBacking = Buffer.alloc(65536 * 4);
const headers: (Buffer | undefined)[] = new Array<Buffer | undefined>(65536);

export function dataHeader(block: number): Buffer {
  const b = block & 0xffff;
  let h = headers[b];
  if (h === undefined) {
    h = headerBacking.subarray(b * 4, b * 4 + 4);
    h[1] = OP.data;
    h[2] = b >> 8;
    h[3] = b & 0xff;
    headers[b] = h;
  }
  return h;
}

/**
 * netascii (RFC 1350 / RFC 764): LF → CR LF, CR → CR NUL. Done once per cached file,
 * never per client.
 */
export function toNetascii(src: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === 0x0a || c === 0x0d) extra++;
  }
  if (extra === 0) return src;
  const out = Buffer.allocUnsafe(src.length + extra);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (c === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else {
      out[o++] = c;
    }
  }
  return out;
}
