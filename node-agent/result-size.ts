/**
 * Keeps a result frame under the dispatcher's WebSocket frame limit. A frame over it makes ws close
 * the link (1009), and since results are resent after every reconnect, one oversized result would
 * loop forever. So before a result is kept: a function's return value that is too large turns the
 * attempt into `failed` with a clear error, then the kept output tails are shortened (still
 * counted in `*Truncated`) until the frame fits.
 */
import type { ResultBody } from '../common/protocol.ts';

/** The dispatcher's ws maxPayload is 16 MiB (dispatcher/http/app.ts); stay well below it. */
export const DEFAULT_MAX_RESULT_FRAME_BYTES = 12 * 1024 * 1024;

const frameBytes = (result: ResultBody): number => Buffer.byteLength(JSON.stringify({ type: 'result', result }));

/** Drops the head of `text` so that about `keepBytes` UTF-8 bytes remain; returns [kept, droppedBytes]. */
function keepTail(text: string, keepBytes: number): [string, number] {
  const buf = Buffer.from(text);
  if (buf.length <= keepBytes) return [text, 0];
  let start = buf.length - keepBytes;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return [buf.subarray(start).toString('utf8'), start];
}

export function fitResult(result: ResultBody, maxBytes = DEFAULT_MAX_RESULT_FRAME_BYTES): ResultBody {
  let size = frameBytes(result);
  if (size <= maxBytes) return result;
  let r: ResultBody = { ...result };
  if ('value' in r) {
    const valueBytes = Buffer.byteLength(JSON.stringify(r.value) ?? '');
    delete r.value;
    r = {
      ...r,
      outcome: 'failed',
      error: `the function's return value is ${valueBytes} bytes of JSON, more than a result frame may carry (${maxBytes} bytes); return less or write it elsewhere`,
    };
    size = frameBytes(r);
  }
  while (size > maxBytes && ((r.stdout?.length ?? 0) > 0 || (r.stderr?.length ?? 0) > 0)) {
    const stream = Buffer.byteLength(r.stdout ?? '') >= Buffer.byteLength(r.stderr ?? '') ? 'stdout' : 'stderr';
    const current = r[stream] ?? '';
    const excess = size - maxBytes;
    const target = Math.max(0, Math.min(Buffer.byteLength(current) - excess, Math.floor(Buffer.byteLength(current) / 2)));
    const [kept, dropped] = keepTail(current, target);
    const key = stream === 'stdout' ? 'stdoutTruncated' : 'stderrTruncated';
    r = { ...r, [stream]: kept, [key]: (r[key] ?? 0) + dropped };
    size = frameBytes(r);
  }
  return r;
}
