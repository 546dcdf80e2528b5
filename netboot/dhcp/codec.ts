/**
 * BOOTP/DHCP codec (RFC 951, RFC 2131, RFC 2132, RFC 3396): `Buffer` ⇄ `DhcpMessage`.
 * Pure: no sockets, timers, logger or clock.
 *
 * Why hand-written: the npm `dhcp` package 0.2.20 crashes on a Raspberry Pi's DISCOVER
 * (option 60 appears in the Pi's parameter request list and the package's option table
 * chokes on it), has no proxy mode, and ACKs requests meant for other servers.
 *
 * What it handles:
 * - pad options (0) anywhere, end option (255); bytes after `end` are ignored (the Pi 5
 *   pads datagrams, Ethernet minimum frames add zeros);
 * - a missing `end` when the options stop exactly at the end of the datagram (lenient, as
 *   dnsmasq is); an option whose length runs past its field is a `DecodeError`;
 * - option overload (52): options continue in `file` and then `sname` (RFC 2131 §4.1); the
 *   overload option itself is framing and is not kept in `options`;
 * - repeated options are concatenated in order of appearance (RFC 3396), and on encode an
 *   option longer than 255 bytes is split the same way;
 * - binary options (61 client id, 97 client GUID, 43 vendor-specific) stay raw `Buffer`s;
 * - known fixed-size options are length-checked here, so accessors can trust them;
 * - a plain BOOTP datagram (no magic cookie) decodes with no options;
 * - encode pads to the 300-byte BOOTP minimum (dnsmasq's MIN_PACKETSZ; RFC 1542 §2.1).
 */
import { DecodeError, EncodeError } from './errors.ts';

export const BOOTP_HEADER_BYTES = 236;
export const MAGIC_COOKIE = 0x63825363;
/** Smallest datagram we send: old BOOTP relays and some PXE ROMs drop shorter ones. */
export const MIN_MESSAGE_BYTES = 300;
const OPTIONS_OFFSET = BOOTP_HEADER_BYTES + 4;
const SNAME_OFFSET = 44;
const SNAME_BYTES = 64;
const FILE_OFFSET = 108;
const FILE_BYTES = 128;

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
/** `flags` bit asking the server to broadcast its reply (RFC 2131 §2). */
export const BROADCAST_FLAG = 0x8000;

export interface DhcpOption {
  readonly code: number;
  readonly data: Buffer;
}

export interface DhcpMessage {
  /** 1 = BOOTREQUEST, 2 = BOOTREPLY. */
  readonly op: number;
  readonly htype: number;
  readonly hlen: number;
  readonly hops: number;
  readonly xid: number;
  readonly secs: number;
  readonly flags: number;
  /** Dotted-quad IPv4 addresses; `0.0.0.0` when unset. */
  readonly ciaddr: string;
  readonly yiaddr: string;
  readonly siaddr: string;
  readonly giaddr: string;
  /** Always 16 bytes; the hardware address is the first `hlen`. */
  readonly chaddr: Buffer;
  /** Server host name and boot file name ('' when unset or when the field carries options). */
  readonly sname: string;
  readonly file: string;
  /** In order of first appearance, repeated codes concatenated; no pad, end or overload (52). */
  readonly options: readonly DhcpOption[];
}

/** Options whose length is fixed or constrained by RFC 2132 / RFC 4578 / RFC 3004. */
const LENGTH_RULES: ReadonlyMap<number, (len: number) => boolean> = new Map([
  [1, (n: number) => n === 4], // subnet mask
  [50, (n: number) => n === 4], // requested IP
  [51, (n: number) => n === 4], // lease time
  [52, (n: number) => n === 1], // overload
  [53, (n: number) => n === 1], // message type
  [54, (n: number) => n === 4], // server identifier
  [55, (n: number) => n >= 1], // parameter request list
  [57, (n: number) => n === 2], // max message size
  [58, (n: number) => n === 4], // T1
  [59, (n: number) => n === 4], // T2
  [61, (n: number) => n >= 2], // client identifier
  [93, (n: number) => n >= 2 && n % 2 === 0], // client system architecture (RFC 4578)
  [94, (n: number) => n === 3], // client network interface identifier (RFC 4578)
]);

export function decodeDhcp(input: Uint8Array): DhcpMessage {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < BOOTP_HEADER_BYTES) {
    throw new DecodeError(buf.length, `truncated: ${buf.length} bytes, a BOOTP header is ${BOOTP_HEADER_BYTES}`);
  }
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DecodeError(0, `op ${op} is neither BOOTREQUEST nor BOOTREPLY`);
  const hlen = buf[2]!;
  if (hlen > 16) throw new DecodeError(2, `hlen ${hlen} is longer than chaddr (16)`);

  let options: DhcpOption[] = [];
  let overload = 0;
  if (buf.length >= OPTIONS_OFFSET && buf.readUInt32BE(BOOTP_HEADER_BYTES) === MAGIC_COOKIE) {
    const raw: RawOption[] = [];
    readOptionArea(buf, OPTIONS_OFFSET, buf.length, 'options', raw);
    overload = overloadOf(raw);
    if (overload & 1) readOptionArea(buf, FILE_OFFSET, FILE_OFFSET + FILE_BYTES, 'file', raw);
    if (overload & 2) readOptionArea(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_BYTES, 'sname', raw);
    options = mergeOptions(raw);
  }

  return {
    op,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipAt(buf, 12),
    yiaddr: ipAt(buf, 16),
    siaddr: ipAt(buf, 20),
    giaddr: ipAt(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 44)),
    sname: overload & 2 ? '' : cString(buf, SNAME_OFFSET, SNAME_BYTES),
    file: overload & 1 ? '' : cString(buf, FILE_OFFSET, FILE_BYTES),
    options,
  };
}

export function encodeDhcp(msg: DhcpMessage): Buffer {
  const optionBytes: Buffer[] = [];
  for (const opt of msg.options) {
    if (!Number.isInteger(opt.code) || opt.code <= 0 || opt.code >= 255 || opt.code === 52) {
      throw new EncodeError(`option code ${opt.code} cannot be encoded as a data option`);
    }
    // RFC 3396: a long option is split into consecutive instances of the same code.
    // An empty option is one instance with length 0.
    let at = 0;
    do {
      const chunk = opt.data.subarray(at, at + 255);
      optionBytes.push(Buffer.from([opt.code, chunk.length]), chunk);
      at += 255;
    } while (at < opt.data.length);
  }
  const body = Buffer.concat(optionBytes);
  const size = Math.max(MIN_MESSAGE_BYTES, OPTIONS_OFFSET + body.length + 1);
  const buf = Buffer.alloc(size); // zero fill = pad options up to the minimum size
  writeU8(buf, 0, msg.op, 'op');
  writeU8(buf, 1, msg.htype, 'htype');
  writeU8(buf, 2, msg.hlen, 'hlen');
  if (msg.hlen > 16) throw new EncodeError(`hlen ${msg.hlen} is longer than chaddr (16)`);
  writeU8(buf, 3, msg.hops, 'hops');
  if (!Number.isInteger(msg.xid) || msg.xid < 0 || msg.xid > 0xffffffff) throw new EncodeError(`xid ${msg.xid} is not a u32`);
  buf.writeUInt32BE(msg.xid, 4);
  writeU16(buf, 8, msg.secs, 'secs');
  writeU16(buf, 10, msg.flags, 'flags');
  writeIp(buf, 12, msg.ciaddr, 'ciaddr');
  writeIp(buf, 16, msg.yiaddr, 'yiaddr');
  writeIp(buf, 20, msg.siaddr, 'siaddr');
  writeIp(buf, 24, msg.giaddr, 'giaddr');
  if (msg.chaddr.length > 16) throw new EncodeError(`chaddr is ${msg.chaddr.length} bytes, at most 16`);
  msg.chaddr.copy(buf, 28);
  writeCString(buf, SNAME_OFFSET, SNAME_BYTES, msg.sname, 'sname');
  writeCString(buf, FILE_OFFSET, FILE_BYTES, msg.file, 'file');
  buf.writeUInt32BE(MAGIC_COOKIE, BOOTP_HEADER_BYTES);
  body.copy(buf, OPTIONS_OFFSET);
  buf[OPTIONS_OFFSET + body.length] = 255;
  return buf;
}

/** Parses an encapsulated option block (option 43 sub-options, RFC 2132 §8.4). */
export function decodeEncapsulated(data: Buffer): DhcpOption[] {
  const raw: RawOption[] = [];
  readOptionArea(data, 0, data.length, 'encapsulated', raw);
  return raw.map(({ code, data: d }) => ({ code, data: d }));
}

/** Encodes sub-options followed by `end` (255), as dnsmasq's do_encap_opts() does. */
export function encodeEncapsulated(options: readonly DhcpOption[]): Buffer {
  const parts: Buffer[] = [];
  for (const o of options) {
    if (o.code <= 0 || o.code >= 255 || o.data.length > 255) throw new EncodeError(`sub-option ${o.code} cannot be encoded`);
    parts.push(Buffer.from([o.code, o.data.length]), o.data);
  }
  parts.push(Buffer.from([255]));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------

interface RawOption {
  readonly code: number;
  readonly data: Buffer;
  readonly offset: number;
}

function readOptionArea(buf: Buffer, start: number, end: number, field: string, out: RawOption[]): void {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === 0) {
      i += 1;
      continue;
    }
    if (code === 255) return;
    if (i + 1 >= end) throw new DecodeError(i, `option ${code} in ${field} has no length byte`);
    const len = buf[i + 1]!;
    if (i + 2 + len > end) {
      throw new DecodeError(i, `option ${code} in ${field} claims ${len} bytes, only ${end - i - 2} remain`);
    }
    out.push({ code, data: Buffer.from(buf.subarray(i + 2, i + 2 + len)), offset: i });
    i += 2 + len;
  }
}

function overloadOf(raw: readonly RawOption[]): number {
  const o = raw.find((r) => r.code === 52);
  if (!o) return 0;
  const v = o.data.length === 1 ? o.data[0]! : -1;
  if (v < 1 || v > 3) throw new DecodeError(o.offset, 'option 52 (overload) must be one byte of value 1, 2 or 3');
  return v;
}

function mergeOptions(raw: readonly RawOption[]): DhcpOption[] {
  const order: number[] = [];
  const parts = new Map<number, { offset: number; chunks: Buffer[] }>();
  for (const r of raw) {
    if (r.code === 52) continue;
    const p = parts.get(r.code);
    if (p) p.chunks.push(r.data);
    else {
      parts.set(r.code, { offset: r.offset, chunks: [r.data] });
      order.push(r.code);
    }
  }
  return order.map((code) => {
    const p = parts.get(code)!;
    const data = p.chunks.length === 1 ? p.chunks[0]! : Buffer.concat(p.chunks);
    const rule = LENGTH_RULES.get(code);
    if (rule && !rule(data.length)) throw new DecodeError(p.offset, `option ${code} has invalid length ${data.length}`);
    return { code, data };
  });
}

function ipAt(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function cString(buf: Buffer, at: number, size: number): string {
  const field = buf.subarray(at, at + size);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? size : nul).toString('latin1');
}

function writeU8(buf: Buffer, at: number, v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new EncodeError(`${name} ${v} is not a u8`);
  buf[at] = v;
}

function writeU16(buf: Buffer, at: number, v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new EncodeError(`${name} ${v} is not a u16`);
  buf.writeUInt16BE(v, at);
}

function writeIp(buf: Buffer, at: number, ip: string, name: string): void {
  const bytes = ipv4Bytes(ip);
  if (!bytes) throw new EncodeError(`${name} '${ip}' is not an IPv4 address`);
  bytes.copy(buf, at);
}

function writeCString(buf: Buffer, at: number, size: number, s: string, name: string): void {
  const bytes = Buffer.from(s, 'latin1');
  if (bytes.length >= size) throw new EncodeError(`${name} is ${bytes.length} bytes, at most ${size - 1}`);
  bytes.copy(buf, at);
}

/** `a.b.c.d` → 4 bytes, or undefined when not a dotted-quad IPv4 address. */
export function ipv4Bytes(ip: string): Buffer | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

export function ipv4FromBytes(b: Buffer): string {
  return ipAt(b, 0);
}

/** IPv4 as an unsigned 32-bit number (for ranges and masks). */
export function ipv4ToNumber(ip: string): number | undefined {
  const b = ipv4Bytes(ip);
  return b ? b.readUInt32BE(0) : undefined;
}

export function ipv4FromNumber(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
