/**
 * What bench:scale reads from outside the master: its CPU time and RSS from /proc (Linux),
 * and counters from its Prometheus text (`/metrics`). Pure parsing plus two file reads.
 */
import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number, ticksPerSecond = 100): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ".
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Sums every sample of a metric family in Prometheus text format (optionally one label value). */
export function metricSum(text: string, name: string, label?: { key: string; value: string }): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (label && !rest.includes(`${label.key}="${label.value}"`)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

/** `op` → count of `picluster_store_writes_total{op}`. */
export function storeWrites(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^picluster_store_writes_total\{op="([^"]+)"\} (\S+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
