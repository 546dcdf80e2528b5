/**
 * Under-voltage on upstream kernels: no get_throttled file, but the raspberrypi-hwmon device
 * `rpi_volt` with `in0_lcrit_alarm`. get_throttled wins when both exist; neither = absent.
 */
import { describe, expect, it } from 'vitest';
import { HealthCollector, throttledFromHwmonAlarm } from './health.ts';
import { fixtureFiles } from './sources.ts';

const collect = (files: Record<string, string>) => new HealthCollector({ files: fixtureFiles(files), osStats: null }).collect();

describe('under-voltage from raspberrypi-hwmon', () => {
  it.each([
    ['1\n', 0x1],
    ['0\n', 0],
    ['garbage', undefined],
  ])('in0_lcrit_alarm %j → %s', (text, bits) => {
    expect(throttledFromHwmonAlarm(text)).toBe(bits);
  });

  it('finds the rpi_volt device among other hwmon devices', async () => {
    const h = await collect({
      '/sys/class/hwmon/hwmon0/name': 'cpu_thermal\n',
      '/sys/class/hwmon/hwmon1/name': 'rpi_volt\n',
      '/sys/class/hwmon/hwmon1/in0_lcrit_alarm': '1\n',
    });
    expect(h.throttled).toBe(0x1);
  });

  it('prefers get_throttled, and leaves throttled out when neither exists', async () => {
    expect(
      (
        await collect({
          '/sys/devices/platform/soc/soc:firmware/get_throttled': '50000\n',
          '/sys/class/hwmon/hwmon1/name': 'rpi_volt\n',
          '/sys/class/hwmon/hwmon1/in0_lcrit_alarm': '1\n',
        })
      ).throttled,
    ).toBe(0x50000);
    expect(await collect({ '/sys/class/hwmon/hwmon0/name': 'cpu_thermal\n' })).toEqual({});
  });
});
