import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cpuPercent,
  HealthCollector,
  parseCpuFreqKhz,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseThermal,
  parseThrottled,
  parseUptime,
} from './health.ts';
import { fixtureFiles } from './sources.ts';

const fx = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'pi3bplus', name), 'utf8');

describe('health parsers (Pi 3B+ fixtures)', () => {
  it('parses /proc/loadavg', () => {
    expect(parseLoadavg(fx('loadavg'))).toEqual({ load1: 0.52, load5: 0.58, load15: 0.59 });
    expect(parseLoadavg('garbage')).toBeUndefined();
  });

  it('computes CPU % from two /proc/stat samples (iowait counts as idle)', () => {
    const a = parseProcStat(fx('stat-1'))!;
    const b = parseProcStat(fx('stat-2'))!;
    expect(a).toEqual({ idle: 80_500, total: 93_800 });
    expect(cpuPercent(a, b)).toBe(47.4);
    expect(cpuPercent(a, a)).toBeUndefined();
    expect(parseProcStat('intr 1 2 3')).toBeUndefined();
  });

  it('parses /proc/meminfo to MB, falling back when MemAvailable is missing', () => {
    expect(parseMeminfo(fx('meminfo'))).toEqual({ memTotalMb: 927, memAvailableMb: 750 });
    expect(parseMeminfo('MemTotal: 2048 kB\nMemFree: 1024 kB\nBuffers: 512 kB\nCached: 512 kB\n')).toEqual({ memTotalMb: 2, memAvailableMb: 2 });
    expect(parseMeminfo('')).toEqual({});
  });

  it.each([
    ['48312\n', 48.3],
    ['-5000', -5],
    ['n/a', undefined],
  ])('parses thermal %j', (text, expected) => expect(parseThermal(text)).toBe(expected));

  it.each([
    ['50005\n', 0x50005], // sysfs get_throttled: %x without prefix
    ['0\n', 0],
    ['throttled=0x50000', 0x50000], // vcgencmd
    ['0x4', 4],
    ['0d17', 17],
    ['zz', undefined],
  ])('parses get_throttled %j', (text, expected) => expect(parseThrottled(text)).toBe(expected));

  it('sums /proc/net/dev bytes without lo', () => {
    expect(parseNetDev(fx('net-dev'))).toEqual({ netRxBytes: 98_766_432, netTxBytes: 12_347_678 });
    expect(parseNetDev('Inter-|\n face |\n    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n')).toBeUndefined();
  });

  it('parses uptime and cpu frequency', () => {
    expect(parseUptime(fx('uptime'))).toBe(12_345.67);
    expect(parseUptime('')).toBeUndefined();
    expect(parseCpuFreqKhz(fx('scaling_cur_freq'))).toBe(1400);
  });
});

describe('HealthCollector', () => {
  const files: Record<string, string> = {
    '/proc/loadavg': fx('loadavg'),
    '/proc/stat': fx('stat-1'),
    '/proc/meminfo': fx('meminfo'),
    '/proc/net/dev': fx('net-dev'),
    '/proc/uptime': fx('uptime'),
    '/sys/class/thermal/thermal_zone0/temp': fx('thermal_zone0-temp'),
    '/sys/class/thermal/thermal_zone1/temp': '51000\n',
    '/sys/class/thermal/cooling_device0/cur_state': '0\n',
    '/sys/devices/platform/soc/soc:firmware/get_throttled': fx('get_throttled'),
    '/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq': fx('scaling_cur_freq'),
  };

  it('reports everything a Pi exposes, CPU % from the second sample on', async () => {
    const c = new HealthCollector({ files: fixtureFiles(files), osStats: null });
    const first = await c.collect();
    expect(first).toEqual({
      load1: 0.52,
      load5: 0.58,
      load15: 0.59,
      memTotalMb: 927,
      memAvailableMb: 750,
      temperatureC: 51,
      throttled: 0x50005,
      netRxBytes: 98_766_432,
      netTxBytes: 12_347_678,
      uptimeS: 12_345.67,
      cpuFreqMhz: 1400,
    });
    files['/proc/stat'] = fx('stat-2');
    expect((await c.collect()).cpuPercent).toBe(47.4);
  });

  it('leaves out what is absent instead of failing', async () => {
    const c = new HealthCollector({ files: fixtureFiles({ '/proc/loadavg': fx('loadavg') }), osStats: null });
    expect(await c.collect()).toEqual({ load1: 0.52, load5: 0.58, load15: 0.59 });
    expect(await new HealthCollector({ files: fixtureFiles({}), osStats: null }).collect()).toEqual({});
  });

  it('falls back to node:os figures where /proc is missing (macOS)', async () => {
    const c = new HealthCollector({
      files: fixtureFiles({}),
      osStats: { loadavg: () => [1.234, 2, 3], totalmem: () => 8 * 1048576, freemem: () => 3 * 1048576, uptime: () => 99 },
    });
    expect(await c.collect()).toEqual({ load1: 1.23, load5: 2, load15: 3, memTotalMb: 8, memAvailableMb: 3, uptimeS: 99 });
  });
});
