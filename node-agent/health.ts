/**
 * Node health for heartbeats: load, CPU %, memory, temperature, Pi throttling, network bytes,
 * uptime, CPU frequency. Each parser is pure (text → numbers) and tested on fixture text; the
 * collector reads through a `FileSource` and leaves out whatever is absent — never an error.
 */
import * as os from 'node:os';
import type { Health } from '../common/protocol.ts';
import type { FileSource } from './sources.ts';

const finite = (n: number): number | undefined => (Number.isFinite(n) ? n : undefined);
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** `/proc/loadavg`: `0.52 0.58 0.59 1/234 5678`. */
export function parseLoadavg(text: string): { load1: number; load5: number; load15: number } | undefined {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if (a === undefined || b === undefined || c === undefined || ![a, b, c].every(Number.isFinite)) return undefined;
  return { load1: a, load5: b, load15: c };
}

export interface CpuTimes {
  readonly idle: number;
  readonly total: number;
}

/** The aggregate `cpu ` line of `/proc/stat` (jiffies): idle = idle + iowait; guest time is already in user. */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (v.length < 4 || !v.every(Number.isFinite)) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  return { idle: idle + iowait, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** Busy percentage between two `/proc/stat` samples; undefined when no time passed. */
export function cpuPercent(prev: CpuTimes, cur: CpuTimes): number | undefined {
  const dTotal = cur.total - prev.total;
  const dIdle = cur.idle - prev.idle;
  if (dTotal <= 0) return undefined;
  return round(Math.min(100, Math.max(0, 100 * (1 - dIdle / dTotal))), 1);
}

/** `/proc/meminfo` (kB) → MB; MemAvailable falls back to MemFree + Buffers + Cached on old kernels. */
export function parseMeminfo(text: string): { memTotalMb?: number; memAvailableMb?: number } {
  const kb = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const total = kb('MemTotal');
  const free = kb('MemFree');
  const available = kb('MemAvailable') ?? (free === undefined ? undefined : free + (kb('Buffers') ?? 0) + (kb('Cached') ?? 0));
  return {
    ...(total !== undefined ? { memTotalMb: Math.round(total / 1024) } : {}),
    ...(available !== undefined ? { memAvailableMb: Math.round(available / 1024) } : {}),
  };
}

/** `thermal_zone<n>/temp` holds millidegrees Celsius (`48312`). */
export function parseThermal(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return undefined;
  return round(Number(t) / 1000, 1);
}

/**
 * Pi throttling bits. The firmware driver's sysfs file prints `%x` without a prefix (`50005`,
 * drivers/firmware/raspberrypi.c), `vcgencmd get_throttled` prints `throttled=0x50005`; a `0d`
 * or `0x` prefix is honoured, bare digits are hex as the kernel writes them.
 */
export function parseThrottled(text: string): number | undefined {
  const t = text
    .trim()
    .replace(/^throttled=/i, '')
    .toLowerCase();
  let n: number;
  if (/^0x[0-9a-f]+$/.test(t)) n = parseInt(t.slice(2), 16);
  else if (/^0d\d+$/.test(t)) n = parseInt(t.slice(2), 10);
  else if (/^[0-9a-f]+$/.test(t)) n = parseInt(t, 16);
  else return undefined;
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Upstream kernels (Debian's, as in the image) have no `get_throttled` file: their
 * raspberrypi-hwmon driver (drivers/hwmon/raspberrypi-hwmon.c, hwmon device named `rpi_volt`)
 * polls the firmware every 2 s, clearing the sticky bits, and exposes only under-voltage as
 * `in0_lcrit_alarm`. That maps to bit 0 (under-voltage now); the other bits are not known there.
 */
export function throttledFromHwmonAlarm(text: string): number | undefined {
  const t = text.trim();
  return t === '1' ? 0x1 : t === '0' ? 0 : undefined;
}

/** `/proc/net/dev`: sum of receive/transmit bytes over every interface but `lo`. */
export function parseNetDev(text: string): { netRxBytes: number; netTxBytes: number } | undefined {
  let rx = 0;
  let tx = 0;
  let any = false;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const iface = line.slice(0, colon).trim();
    if (iface === 'lo' || iface === '' || iface.includes('|')) continue;
    const cols = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (cols.length < 9 || !Number.isFinite(cols[0]) || !Number.isFinite(cols[8])) continue;
    rx += cols[0]!;
    tx += cols[8]!;
    any = true;
  }
  return any ? { netRxBytes: rx, netTxBytes: tx } : undefined;
}

/** `/proc/uptime`: `12345.67 23456.78` → seconds. */
export function parseUptime(text: string): number | undefined {
  const n = Number(text.trim().split(/\s+/)[0]);
  return text.trim() === '' ? undefined : finite(n);
}

/** `scaling_cur_freq` is in kHz. */
export function parseCpuFreqKhz(text: string): number | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) ? Math.round(Number(t) / 1000) : undefined;
}

/** Used where /proc is absent (macOS, BSD): load, memory, uptime from `node:os`. */
export interface OsStats {
  loadavg(): number[];
  totalmem(): number;
  freemem(): number;
  uptime(): number;
}

export interface HealthCollectorOptions {
  readonly files: FileSource;
  /** Fallback for load/memory/uptime when /proc lacks them; `null` = none (tests). */
  readonly osStats?: OsStats | null;
}

export class HealthCollector {
  private prevCpu: CpuTimes | undefined;
  private readonly files: FileSource;
  private readonly osStats: OsStats | null;

  constructor(options: HealthCollectorOptions) {
    this.files = options.files;
    this.osStats = options.osStats === undefined ? os : options.osStats;
  }

  /** One sample. CPU % needs two samples, so the first call has none. */
  async collect(): Promise<Health> {
    const f = this.files;
    const [loadavg, stat, meminfo, throttled, netdev, uptime, freq, zones] = await Promise.all([
      f.readFile('/proc/loadavg'),
      f.readFile('/proc/stat'),
      f.readFile('/proc/meminfo'),
      f.readFile('/sys/devices/platform/soc/soc:firmware/get_throttled'),
      f.readFile('/proc/net/dev'),
      f.readFile('/proc/uptime'),
      f.readFile('/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq'),
      f.readdir('/sys/class/thermal'),
    ]);
    const temps = await Promise.all(
      (zones ?? [])
        .filter((z) => z.startsWith('thermal_zone'))
        .map(async (z) => {
          const t = await f.readFile(`/sys/class/thermal/${z}/temp`);
          return t === undefined ? undefined : parseThermal(t);
        }),
    );
    const health: Health = {};
    const load = loadavg === undefined ? undefined : parseLoadavg(loadavg);
    if (load) Object.assign(health, load);
    else if (this.osStats) {
      const [l1, l5, l15] = this.osStats.loadavg();
      if (l1 !== undefined && l5 !== undefined && l15 !== undefined) Object.assign(health, { load1: round(l1), load5: round(l5), load15: round(l15) });
    }
    const cpu = stat === undefined ? undefined : parseProcStat(stat);
    if (cpu) {
      const pct = this.prevCpu ? cpuPercent(this.prevCpu, cpu) : undefined;
      if (pct !== undefined) health.cpuPercent = pct;
      this.prevCpu = cpu;
    }
    const mem = meminfo === undefined ? {} : parseMeminfo(meminfo);
    if (mem.memTotalMb === undefined && this.osStats) {
      mem.memTotalMb = Math.round(this.osStats.totalmem() / 1048576);
      mem.memAvailableMb = Math.round(this.osStats.freemem() / 1048576);
    }
    Object.assign(health, mem);
    const hottest = temps.filter((t): t is number => t !== undefined);
    if (hottest.length > 0) health.temperatureC = Math.max(...hottest);
    const thr = throttled === undefined ? await this.hwmonUnderVoltage() : parseThrottled(throttled);
    if (thr !== undefined) health.throttled = thr;
    const net = netdev === undefined ? undefined : parseNetDev(netdev);
    if (net) Object.assign(health, net);
    const up = uptime === undefined ? undefined : parseUptime(uptime);
    if (up !== undefined) health.uptimeS = up;
    else if (this.osStats) health.uptimeS = this.osStats.uptime();
    const mhz = freq === undefined ? undefined : parseCpuFreqKhz(freq);
    if (mhz !== undefined) health.cpuFreqMhz = mhz;
    return health;
  }

  private async hwmonUnderVoltage(): Promise<number | undefined> {
    for (const dev of (await this.files.readdir('/sys/class/hwmon')) ?? []) {
      if ((await this.files.readFile(`/sys/class/hwmon/${dev}/name`))?.trim() !== 'rpi_volt') continue;
      const alarm = await this.files.readFile(`/sys/class/hwmon/${dev}/in0_lcrit_alarm`);
      return alarm === undefined ? undefined : throttledFromHwmonAlarm(alarm);
    }
    return undefined;
  }
}
