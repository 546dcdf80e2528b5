/**
 * Per-job CPU time and peak memory where the job has no cgroup to count them (or no memory
 * controller): the runners of function and python jobs report their own getrusage (exact for
 * their process and the children they waited for), and for exec jobs the leader's /proc entry is
 * sampled while it runs (`utime+stime+cutime+cstime`, `VmHWM`) — approximate: what happens after
 * the last sample, or in processes the leader did not wait for, is missed.
 */
import { readFile } from 'node:fs/promises';
import type { JobSpec, ResultBody } from '../common/protocol.ts';
import type { JobCgroup } from './cgroup.ts';
import type { RunnerUsage } from './job-kinds.ts';

/** `/proc/<pid>/stat` → CPU ms of the process and its waited-for children. */
export function parseProcStatCpuMs(stat: string, ticksPerSecond = 100): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close === -1) return undefined;
  // fields after "pid (comm) ": state is field 3; utime, stime, cutime, cstime are fields 14–17
  const f = stat.slice(close + 2).split(' ');
  const ticks = [11, 12, 13, 14].map((i) => Number(f[i]));
  if (ticks.some((t) => !Number.isFinite(t))) return undefined;
  return Math.round((ticks.reduce((a, b) => a + b, 0) * 1000) / ticksPerSecond);
}

/** `/proc/<pid>/status` → peak RSS in bytes (`VmHWM`). */
export function parseVmHwmBytes(status: string): number | undefined {
  const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

export interface Sample {
  readonly cpuMs?: number;
  readonly peakMemoryBytes?: number;
}

/** Polls the leader's /proc every `intervalMs` until stopped; keeps the latest CPU and the highest peak. */
export class LeaderSampler {
  private timer: NodeJS.Timeout | undefined;
  private latest: { cpuMs?: number; peakMemoryBytes?: number } = {};
  private inFlight = false;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  private async sample(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    try {
      const [stat, status] = await Promise.all([
        readFile(`/proc/${this.pid}/stat`, 'utf8').catch(() => undefined),
        readFile(`/proc/${this.pid}/status`, 'utf8').catch(() => undefined),
      ]);
      const cpuMs = stat === undefined ? undefined : parseProcStatCpuMs(stat);
      const peak = status === undefined ? undefined : parseVmHwmBytes(status);
      if (cpuMs !== undefined) this.latest = { ...this.latest, cpuMs: Math.max(cpuMs, this.latest.cpuMs ?? 0) };
      if (peak !== undefined) this.latest = { ...this.latest, peakMemoryBytes: Math.max(peak, this.latest.peakMemoryBytes ?? 0) };
    } finally {
      this.inFlight = false;
    }
  }

  stop(): Sample {
    clearInterval(this.timer);
    return this.latest;
  }
}

/** CPU and memory from the best source there is: the cgroup, then the runner's getrusage, then samples. */
export async function accounting(
  cgroup: JobCgroup | undefined,
  runner: RunnerUsage | undefined,
  sampled: Sample | undefined,
  limits: JobSpec['limits'],
): Promise<Pick<ResultBody, 'cpuMs' | 'peakMemoryBytes' | 'accounting'>> {
  const fromCgroup = cgroup ? await cgroup.usage() : {};
  const pick = (key: 'cpuMs' | 'peakMemoryBytes') =>
    fromCgroup[key] !== undefined
      ? ([fromCgroup[key], 'cgroup'] as const)
      : runner?.[key] !== undefined
        ? ([runner[key], 'rusage'] as const)
        : sampled?.[key] !== undefined
          ? ([sampled[key], 'sampled'] as const)
          : undefined;
  const cpu = pick('cpuMs');
  const memory = pick('peakMemoryBytes');
  const asked = Object.keys(limits ?? {});
  const unenforced = cgroup ? [...cgroup.unenforced] : asked;
  return {
    ...(cpu ? { cpuMs: cpu[0] } : {}),
    ...(memory ? { peakMemoryBytes: memory[0] } : {}),
    accounting: {
      isolation: cgroup ? 'cgroup' : 'process-group',
      ...(cpu ? { cpu: cpu[1] } : {}),
      ...(memory ? { memory: memory[1] } : {}),
      ...(unenforced.length ? { unenforced } : {}),
    },
  };
}
