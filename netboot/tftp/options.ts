/**
 * Pure request decision and option negotiation (RFC 2347 OACK, RFC 2348 blksize,
 * RFC 2349 timeout/tsize, RFC 7440 windowsize).
 *
 * Hand-written rather than the npm `tftp` package (0.1.2): that runs at about half
 * dnsmasq's speed, its windowed mode fails under 0.2 % loss, and an unhandled client
 * ERROR crashes the process.
 *
 * Quirks handled here:
 * - The Pi 4 firmware ignores config.txt when blksize is not confirmed by an OACK
 *   (fw#1012), so a requested blksize is always answered, clamped to `blksizeMax`.
 * - Unknown options are ignored (RFC 2347 §Negotiation); invalid values drop that option
 *   from the OACK rather than failing the request.
 * - With no accepted option there is no OACK: DATA 1 answers the RRQ (RFC 2347).
 * - OACK options come back in the client's order (the Pi 4 sends tsize before blksize;
 *   dnsmasq answers blksize first: RFC 2347 allows either).
 */
import { TFTP_ERROR, type RequestPacket, type TftpOption } from './codec.ts';

export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
export const BLKSIZE_DEFAULT = 512;

export interface NegotiationLimits {
  readonly blksizeMax: number;
  readonly windowsizeMax: number;
}

export type AcceptedOption = 'blksize' | 'tsize' | 'timeout' | 'windowsize';

export interface Negotiated {
  readonly blksize: number;
  readonly windowsize: number;
  /** RFC 2349 timeout in seconds, when the client proposed a valid one. */
  readonly timeoutS: number | undefined;
  /** Accepted options in request order; empty = no OACK. */
  readonly accepted: readonly AcceptedOption[];
}

const DECIMAL = /^[0-9]{1,10}$/;

function intValue(value: string): number | undefined {
  return DECIMAL.test(value) ? Number(value) : undefined;
}

export function negotiateOptions(options: readonly TftpOption[], limits: NegotiationLimits): Negotiated {
  let blksize = BLKSIZE_DEFAULT;
  let windowsize = 1;
  let timeoutS: number | undefined;
  const accepted: AcceptedOption[] = [];
  for (const { name, value } of options) {
    const key = name.toLowerCase();
    if (accepted.includes(key as AcceptedOption)) continue; // first occurrence wins
    const v = intValue(value);
    if (v === undefined) continue;
    switch (key) {
      case 'blksize':
        if (v < BLKSIZE_MIN) continue;
        blksize = Math.min(v, BLKSIZE_MAX, limits.blksizeMax);
        accepted.push('blksize');
        break;
      case 'tsize':
        accepted.push('tsize');
        break;
      case 'timeout':
        if (v < 1 || v > 255) continue;
        timeoutS = v;
        accepted.push('timeout');
        break;
      case 'windowsize':
        if (v < 1 || v > 65535) continue;
        windowsize = Math.min(v, limits.windowsizeMax);
        accepted.push('windowsize');
        break;
      default:
        break;
    }
  }
  return { blksize, windowsize, timeoutS, accepted };
}

/** The OACK's option list once the transfer size is known. */
export function oackOptions(n: Negotiated, sizeBytes: number): TftpOption[] {
  return n.accepted.map((name) => {
    switch (name) {
      case 'blksize':
        return { name, value: String(n.blksize) };
      case 'tsize':
        return { name, value: String(sizeBytes) };
      case 'timeout':
        return { name, value: String(n.timeoutS) };
      case 'windowsize':
        return { name, value: String(n.windowsize) };
    }
  });
}

export type RequestDecision =
  | { readonly kind: 'refuse'; readonly code: number; readonly message: string; readonly reason: 'write-refused' | 'bad-mode' }
  | {
      readonly kind: 'accept';
      readonly filename: string;
      readonly netascii: boolean;
      readonly negotiated: Negotiated;
    };

/** What to do with a decoded RRQ/WRQ, before looking at the file system. */
export function decideRequest(p: RequestPacket, limits: NegotiationLimits): RequestDecision {
  if (p.op === 'wrq') {
    return { kind: 'refuse', code: TFTP_ERROR.accessViolation, message: 'write requests are refused', reason: 'write-refused' };
  }
  const mode = p.mode.toLowerCase();
  if (mode !== 'octet' && mode !== 'netascii') {
    return { kind: 'refuse', code: TFTP_ERROR.illegalOperation, message: `unsupported mode ${mode}`, reason: 'bad-mode' };
  }
  return { kind: 'accept', filename: p.filename, netascii: mode === 'netascii', negotiated: negotiateOptions(p.options, limits) };
}
