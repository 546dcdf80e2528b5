import { describe, expect, it } from 'vitest';
import type { Health } from '../../common/protocol.ts';
import {
  DEFAULT_HEALTH_POLICY,
  HEALTHY,
  decodeThrottled,
  describePlacement,
  healthPlacement,
  placementChanged,
  temperatureLevel,
  type HealthPolicy,
} from './health.ts';

const strict: HealthPolicy = { ...DEFAULT_HEALTH_POLICY, skipAboveTemperatureC: 85, skipWhenUnderVoltage: true };

describe('healthPlacement (default policy)', () => {
  it.each<[string, Health | undefined, string, number]>([
    ['no health yet', undefined, 'ok', 1],
    ['nothing reported', {}, 'ok', 1],
    ['cool, not throttled', { temperatureC: 45, throttled: 0 }, 'ok', 1],
    ['only since-boot bits', { throttled: 0x50000 }, 'ok', 1],
    ['under-voltage now', { throttled: 0x1 }, 'derated', 1.5],
    ['capped now', { throttled: 0x2 }, 'derated', 1.5],
    ['soft temp limit now', { throttled: 0x8 }, 'derated', 1.5],
    ['under-voltage and throttled do not compound', { throttled: 0x50005 }, 'derated', 1.5],
    ['warm', { temperatureC: 70 }, 'derated', 1.25],
    ['just below warm', { temperatureC: 69.9 }, 'ok', 1],
    ['hot', { temperatureC: 80.5 }, 'derated', 2],
    ['hot and throttled', { temperatureC: 82, throttled: 0x4 }, 'derated', 3],
  ])('%s → %s x%d', (_what, health, status, derate) => {
    const p = healthPlacement(health);
    expect(p.status).toBe(status);
    expect(p.derate).toBeCloseTo(derate);
  });
});

describe('healthPlacement (skip options)', () => {
  it.each<[string, Health, string, string[]]>([
    ['under-voltage skips', { throttled: 0x1 }, 'skipped', ['under-voltage']],
    ['throttled only derates', { throttled: 0x4 }, 'derated', ['throttled']],
    ['above skip temperature', { temperatureC: 86 }, 'skipped', ['too hot 86C']],
    ['hot but below skip', { temperatureC: 84 }, 'derated', ['hot 84C']],
  ])('%s', (_what, health, status, reasons) => {
    const p = healthPlacement(health, strict);
    expect(p.status).toBe(status);
    expect(p.reasons).toEqual(reasons);
  });

  it('a skip threshold below the hot threshold still skips', () => {
    expect(healthPlacement({ temperatureC: 76 }, { ...DEFAULT_HEALTH_POLICY, skipAboveTemperatureC: 75 }).status).toBe('skipped');
  });
});

describe('temperature hysteresis', () => {
  it.each<[number, 'normal' | 'warm' | 'hot' | 'skip', string]>([
    [79, 'hot', 'hot'], // cooled 1C: still hot (hysteresis 2C)
    [77.9, 'hot', 'warm'],
    [68.5, 'warm', 'warm'],
    [67.9, 'warm', 'normal'],
    [79, 'warm', 'warm'], // rising needs the full threshold
    [80, 'warm', 'hot'],
    [84, 'skip', 'skip'],
    [82.9, 'skip', 'hot'],
  ])('%dC after %s → %s', (t, previous, expected) => {
    expect(temperatureLevel(t, strict, previous)).toBe(expected);
  });
});

describe('placement changes worth an event', () => {
  const hot = healthPlacement({ temperatureC: 81 });
  it('the same causes at another temperature are no change', () => {
    expect(placementChanged(hot, healthPlacement({ temperatureC: 83 }, DEFAULT_HEALTH_POLICY, hot))).toBe(false);
  });
  it.each<[string, Health]>([
    ['recovered', { temperatureC: 40 }],
    ['another level', { temperatureC: 75 }],
    ['another cause', { temperatureC: 81, throttled: 0x4 }],
  ])('%s is a change', (_w, h) => {
    expect(placementChanged(hot, healthPlacement(h, DEFAULT_HEALTH_POLICY, hot))).toBe(true);
  });
  it('describes each status', () => {
    expect(describePlacement(HEALTHY)).toMatch(/healthy/);
    expect(describePlacement(hot)).toBe('derated x2 for placement: hot 81C');
    expect(describePlacement(healthPlacement({ throttled: 1 }, strict))).toBe('skipped for placement (no new jobs): under-voltage');
  });
});

describe('decodeThrottled', () => {
  it('decodes 0x50005 (under-voltage and throttled, now and since boot)', () => {
    expect(decodeThrottled(0x50005)).toEqual({
      under_voltage_now: true,
      freq_capped_now: false,
      throttled_now: true,
      soft_temp_limit_now: false,
      under_voltage_since_boot: true,
      freq_capped_since_boot: false,
      throttled_since_boot: true,
      soft_temp_limit_since_boot: false,
    });
  });
  it('decodes 0x80008 (soft temperature limit)', () => {
    const d = decodeThrottled(0x80008);
    expect(
      Object.entries(d)
        .filter(([, v]) => v)
        .map(([k]) => k),
    ).toEqual(['soft_temp_limit_now', 'soft_temp_limit_since_boot']);
  });
});
