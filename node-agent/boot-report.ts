/**
 * The boot report: the kernel log of this boot and `/init`'s milestones, read from /dev/kmsg
 * when the agent starts and sent once after its first welcome (protocol: `boot-report`).
 *
 * /dev/kmsg (Documentation/ABI/testing/dev-kmsg): every read() returns one record
 *   "<level|facility>,<seq>,<usec since boot>,<flags>[,…];<text>\n[ KEY=value\n…]"
 * from the oldest record still in the ring; a non-blocking read at the end fails with EAGAIN,
 * and EPIPE says records were overwritten before we read them (we count and go on).
 * `/init` writes its milestones as `picluster-init: milestone=<step> key=value …` records
 * (image/rootfs/init), so they carry the kernel's own timestamps.
 *
 * Parsing and shaping are pure; readKmsg is the only I/O.
 */
import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import type { BootReportMsg } from '../common/protocol.ts';
import type { Static } from '@sinclair/typebox';

export type BootReport = Omit<Static<typeof BootReportMsg>, 'type'>;

export interface KmsgRecord {
  /** Syslog level 0 (emerg) … 7 (debug). */
  readonly level: number;
  readonly seq: number;
  /** Microseconds since boot. */
  readonly usec: number;
  readonly text: string;
}

/** One /dev/kmsg record, or undefined when it is not one. Continuation lines (" KEY=v") are dropped. */
export function parseKmsgRecord(raw: string): KmsgRecord | undefined {
  const semi = raw.indexOf(';');
  if (semi < 0) return undefined;
  const [pri, seq, usec] = raw.slice(0, semi).split(',');
  const p = Number(pri);
  const s = Number(seq);
  const u = Number(usec);
  if (!Number.isInteger(p) || !Number.isInteger(s) || !Number.isFinite(u) || p < 0 || u < 0) return undefined;
  const body = raw.slice(semi + 1);
  const nl = body.indexOf('\n');
  // the kernel escapes non-printable bytes as \xNN; the text stays one line
  return { level: p & 7, seq: s, usec: u, text: nl < 0 ? body : body.slice(0, nl) };
}

export interface Milestone {
  readonly step: string;
  readonly uptimeMs: number;
  readonly detail: Readonly<Record<string, string>>;
}

const MILESTONE = /^picluster-init: milestone=([a-z0-9-]{1,64})(?:\s+(.*))?$/;

/** `/init`'s milestones among the records, in order; `kernel-start` (time 0) is the first record. */
export function milestonesOf(records: readonly KmsgRecord[]): Milestone[] {
  const out: Milestone[] = [];
  const first = records[0];
  if (first && first.seq === 0) out.push({ step: 'kernel-start', uptimeMs: 0, detail: { text: first.text.slice(0, 256) } });
  for (const r of records) {
    const m = MILESTONE.exec(r.text);
    if (!m) continue;
    const detail: Record<string, string> = {};
    for (const word of (m[2] ?? '').split(/\s+/)) {
      const eq = word.indexOf('=');
      if (eq > 0 && Object.keys(detail).length < 16) detail[word.slice(0, eq).slice(0, 32)] = word.slice(eq + 1).slice(0, 256);
    }
    out.push({ step: m[1] as string, uptimeMs: r.usec / 1000, detail });
  }
  return out.slice(0, 64);
}

export interface ReportBounds {
  /** Most kernel log lines sent (the newest kept beyond it). Default 2000. */
  readonly maxLines?: number;
  /** Most bytes of kernel log text. Default 256 KiB. */
  readonly maxBytes?: number;
}

/** The boot report from kmsg records: milestones from all of them, the log bounded (the oldest lines dropped first). */
export function buildBootReport(records: readonly KmsgRecord[], bootId: string, bootedAt: number, lost: number, bounds: ReportBounds = {}): BootReport {
  const maxLines = bounds.maxLines ?? 2000;
  const maxBytes = bounds.maxBytes ?? 256 * 1024;
  const lines: BootReport['kernelLog'] = [];
  let bytes = 0;
  for (let i = records.length - 1; i >= 0 && lines.length < maxLines; i--) {
    const r = records[i] as KmsgRecord;
    const text = r.text.slice(0, 1024);
    if (bytes + text.length > maxBytes) break;
    bytes += text.length;
    lines.push({ uptimeMs: r.usec / 1000, level: r.level, text });
  }
  lines.reverse();
  return { bootId: bootId.slice(0, 64), bootedAt, milestones: milestonesOf(records), kernelLog: lines, droppedLines: lost + records.length - lines.length };
}

/** Reads every record still in the kernel's ring (non-blocking, at most maxRecords). */
export function readKmsg(path = '/dev/kmsg', maxRecords = 20_000): { records: KmsgRecord[]; lost: number } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(16 * 1024);
  const records: KmsgRecord[] = [];
  let lost = 0;
  try {
    while (records.length < maxRecords) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break;
        if (code === 'EPIPE') {
          lost++;
          continue;
        }
        throw e;
      }
      if (n === 0) break;
      const r = parseKmsgRecord(buf.toString('utf8', 0, n));
      if (r) records.push(r);
    }
  } finally {
    closeSync(fd);
  }
  return { records, lost };
}

/** Time of boot on the clock `now` is read from (the dispatcher's): now minus /proc/uptime, never below 0. */
export function bootedAtMs(now: number, uptimeText: string = readFileSync('/proc/uptime', 'utf8')): number {
  const up = Number(uptimeText.split(/\s/)[0]);
  return Math.max(0, Number.isFinite(up) ? Math.round(now - up * 1000) : now);
}

/** The report of this boot from a kmsg device, `now` being the dispatcher's clock; undefined (with the reason) when it cannot be read. */
export function collectBootReport(path: string, bootId: string, now: number): { report?: BootReport; error?: string } {
  try {
    const { records, lost } = readKmsg(path);
    return { report: buildBootReport(records, bootId, bootedAtMs(now), lost) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}
