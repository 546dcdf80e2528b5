import { describe, expect, it } from 'vitest';
import { parseProcStatCpuMs, parseVmHwmBytes } from './usage.ts';

describe('/proc parsers for sampled usage', () => {
  it('sums utime, stime, cutime and cstime (fields 14–17) in clock ticks, even with spaces in comm', () => {
    const stat = '4242 (my (odd) job) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 20 30 20 0 1 0 123 1000000 200 18446744073709551615';
    expect(parseProcStatCpuMs(stat)).toBe(2500);
    expect(parseProcStatCpuMs(stat, 1000)).toBe(250);
    expect(parseProcStatCpuMs('garbage')).toBeUndefined();
  });
  it('reads VmHWM as bytes', () => {
    expect(parseVmHwmBytes('Name:\tsh\nVmPeak:\t  9000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n')).toBe(1234 * 1024);
    expect(parseVmHwmBytes('Name:\tkthreadd\n')).toBeUndefined();
  });
});
