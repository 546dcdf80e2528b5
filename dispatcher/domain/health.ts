/**
 * Health-aware placement: the pure rule that turns a node's last reported health into a
 * placement decision — place normally, derate (look slower to the strategies), or skip (no new
 * work). The Dispatcher evaluates it on every heartbeat and records a node event only when the
 * decision's status or reasons change, never on every heartbeat.
 *
 * Pi `get_throttled` bits (raspberrypi.com documentation, "get_throttled"): 0 under-voltage now,
 * 1 ARM frequency capped now, 2 throttled now, 3 soft temperature limit now; 16–19 the same
 * "has occurred since boot". Only the current bits (0–3) affect placement.
 */
import type { Health } from '../../common/protocol.ts';

export interface HealthPolicy {
  /** At or above this temperature the node is derated by `warmDerate`. */
  readonly warmTemperatureC: number;
  readonly warmDerate: number;
  /** At or above this temperature the node is derated by `hotDerate` (instead of `warmDerate`). */
  readonly hotTemperatureC: number;
  readonly hotDerate: number;
  /** Factor when the ARM clock is capped, throttled or at the soft temperature limit (bits 1–3). */
  readonly throttledDerate: number;
  /** Factor when the supply is under-voltage now (bit 0). */
  readonly underVoltageDerate: number;
  /** At or above this temperature the node gets no new work; absent = never skipped for heat. */
  readonly skipAboveTemperatureC?: number;
  /** Under-voltage now = no new work (an undervolted Pi corrupts data and crashes). */
  readonly skipWhenUnderVoltage: boolean;
  /** A temperature level is left only when the node cooled this far below its threshold (no flapping). */
  readonly hysteresisC: number;
}

/** Matches the rule picluster used before it was configurable. */
export const DEFAULT_HEALTH_POLICY: HealthPolicy = Object.freeze({
  warmTemperatureC: 70,
  warmDerate: 1.25,
  hotTemperatureC: 80,
  hotDerate: 2,
  throttledDerate: 1.5,
  underVoltageDerate: 1.5,
  skipWhenUnderVoltage: false,
  hysteresisC: 2,
});

export const THROTTLE_FLAGS = [
  ['under_voltage_now', 0],
  ['freq_capped_now', 1],
  ['throttled_now', 2],
  ['soft_temp_limit_now', 3],
  ['under_voltage_since_boot', 16],
  ['freq_capped_since_boot', 17],
  ['throttled_since_boot', 18],
  ['soft_temp_limit_since_boot', 19],
] as const;
export type ThrottleFlag = (typeof THROTTLE_FLAGS)[number][0];

/** The eight documented `get_throttled` flags as booleans. */
export function decodeThrottled(bits: number): Record<ThrottleFlag, boolean> {
  return Object.fromEntries(THROTTLE_FLAGS.map(([flag, bit]) => [flag, (bits & (2 ** bit)) !== 0])) as Record<ThrottleFlag, boolean>;
}

export type TemperatureLevel = 'normal' | 'warm' | 'hot' | 'skip';
export type PlacementStatus = 'ok' | 'derated' | 'skipped';

export interface HealthPlacement {
  readonly status: PlacementStatus;
  /** ≥ 1; 1 when ok. Meaningless (but kept) when skipped. */
  readonly derate: number;
  /** Temperature level reached, remembered for hysteresis. */
  readonly temperatureLevel: TemperatureLevel;
  /** Short machine-friendly causes, sorted: `under-voltage`, `throttled`, `warm 72.1C`, … */
  readonly reasons: readonly string[];
}

export const HEALTHY: HealthPlacement = Object.freeze({ status: 'ok', derate: 1, temperatureLevel: 'normal', reasons: Object.freeze([]) as readonly string[] });

const LEVEL_ORDER: readonly TemperatureLevel[] = ['normal', 'warm', 'hot', 'skip'];

function thresholdOf(level: TemperatureLevel, p: HealthPolicy): number | undefined {
  switch (level) {
    case 'normal':
      return undefined;
    case 'warm':
      return p.warmTemperatureC;
    case 'hot':
      return p.hotTemperatureC;
    case 'skip':
      return p.skipAboveTemperatureC;
  }
}

/** Highest level whose threshold is reached; the previous level holds until `hysteresisC` below it. */
export function temperatureLevel(temperatureC: number | undefined, p: HealthPolicy, previous: TemperatureLevel = 'normal'): TemperatureLevel {
  if (temperatureC === undefined) return 'normal';
  let level: TemperatureLevel = 'normal';
  for (const l of LEVEL_ORDER) {
    const t = thresholdOf(l, p);
    if (t === undefined) continue;
    const held = LEVEL_ORDER.indexOf(l) <= LEVEL_ORDER.indexOf(previous) ? t - p.hysteresisC : t;
    if (temperatureC >= held) level = l;
  }
  return level;
}

/** The placement rule. `previous` is the last decision for the same node (for hysteresis). */
export function healthPlacement(health: Health | undefined, policy: HealthPolicy = DEFAULT_HEALTH_POLICY, previous?: HealthPlacement): HealthPlacement {
  if (!health) return HEALTHY;
  const reasons: string[] = [];
  let skip = false;
  let derate = 1;
  const bits = health.throttled ?? 0;
  const underVoltage = (bits & 0x1) !== 0;
  const throttled = (bits & 0xe) !== 0;
  if (underVoltage) {
    reasons.push('under-voltage');
    if (policy.skipWhenUnderVoltage) skip = true;
  }
  if (throttled) reasons.push('throttled');
  // Under-voltage usually also caps the clock: the two factors do not compound.
  derate *= Math.max(underVoltage ? policy.underVoltageDerate : 1, throttled ? policy.throttledDerate : 1);
  const level = temperatureLevel(health.temperatureC, policy, previous?.temperatureLevel);
  if (level !== 'normal') reasons.push(`${level === 'skip' ? 'too hot' : level} ${health.temperatureC}C`);
  if (level === 'skip') skip = true;
  if (level === 'hot' || level === 'skip') derate *= policy.hotDerate;
  else if (level === 'warm') derate *= policy.warmDerate;
  const status: PlacementStatus = skip ? 'skipped' : derate > 1 ? 'derated' : 'ok';
  return { status, derate, temperatureLevel: level, reasons };
}

/** Whether moving from `a` to `b` is worth a node event: status, or the set of causes (not the exact temperature). */
export function placementChanged(a: HealthPlacement, b: HealthPlacement): boolean {
  if (a.status !== b.status || a.temperatureLevel !== b.temperatureLevel) return true;
  const causes = (p: HealthPlacement) => p.reasons.map((r) => r.split(' ')[0]).join(',');
  return causes(a) !== causes(b);
}

/** Node event text for a change to `p`. */
export function describePlacement(p: HealthPlacement): string {
  switch (p.status) {
    case 'ok':
      return 'healthy again: placed normally';
    case 'derated':
      return `derated x${Math.round(p.derate * 100) / 100} for placement: ${p.reasons.join(', ')}`;
    case 'skipped':
      return `skipped for placement (no new jobs): ${p.reasons.join(', ')}`;
  }
}
