/**
 * Pure: a believable health report for a virtual node. Each node keeps a small state (a
 * random walk for load and temperature, growing uptime and network counters) and every
 * heartbeat steps it. Busy slots raise load, CPU and temperature; a few nodes run hot and
 * report the Pi's "soft temperature limit since boot" throttling bit, so health-aware
 * placement has something to act on. Bounds stay inside `Health` (common/protocol.ts).
 */
import type { Health } from '../common/protocol.ts';

export interface HealthState {
  load: number;
  temperatureC: number;
  uptimeS: number;
  netRxBytes: number;
  netTxBytes: number;
  readonly memTotalMb: number;
  /** A node that runs hot (bad case or fan): hotter, and throttled past 80 °C. */
  readonly hot: boolean;
}

export function initialHealth(random: () => number, memTotalMb = 4096): HealthState {
  return {
    load: random() * 0.3,
    temperatureC: 40 + random() * 8,
    uptimeS: Math.floor(random() * 86_400),
    netRxBytes: Math.floor(random() * 1e9),
    netTxBytes: Math.floor(random() * 1e8),
    memTotalMb,
    hot: random() < 0.02,
  };
}

/** Steps the state by `elapsedMs` with `busy` of `slots` slots in use; returns the report. */
export function stepHealth(s: HealthState, busy: number, slots: number, elapsedMs: number, random: () => number): Health {
  const use = slots > 0 ? Math.min(1, busy / slots) : 0;
  const k = Math.min(1, elapsedMs / 60_000);
  s.load = Math.max(0, s.load + (use * slots - s.load) * Math.max(k, 0.08) + (random() - 0.5) * 0.05);
  const target = (s.hot ? 62 : 45) + use * (s.hot ? 25 : 15);
  s.temperatureC = Math.min(95, Math.max(20, s.temperatureC + (target - s.temperatureC) * 0.05 + (random() - 0.5) * 0.4));
  s.uptimeS += elapsedMs / 1000;
  s.netRxBytes += Math.floor(2_000 + random() * 20_000 + use * 500_000);
  s.netTxBytes += Math.floor(1_000 + random() * 10_000 + use * 200_000);
  const cpuPercent = Math.min(100, Math.max(0, use * 95 + random() * 5));
  const throttledNow = s.hot && s.temperatureC >= 80;
  return {
    load1: round2(s.load),
    load5: round2(s.load * 0.9),
    load15: round2(s.load * 0.8),
    cpuPercent: round2(cpuPercent),
    memTotalMb: s.memTotalMb,
    memAvailableMb: Math.round(s.memTotalMb * (0.85 - use * 0.4)),
    temperatureC: round2(s.temperatureC),
    // Bit 3: soft temperature limit now; bit 19: it happened since boot.
    throttled: throttledNow ? 0x80008 : s.hot ? 0x80000 : 0,
    uptimeS: Math.floor(s.uptimeS),
    netRxBytes: s.netRxBytes,
    netTxBytes: s.netTxBytes,
    cpuFreqMhz: throttledNow ? 1000 : 1500,
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
