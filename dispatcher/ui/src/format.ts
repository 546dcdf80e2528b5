/** Formatting helpers: all return plain strings (rendered as text, never HTML). */

export function ago(ts: number | undefined, now = Date.now()): string {
  if (ts === undefined) return '—';
  const s = Math.round((now - ts) / 1000);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function time(ts: number | undefined): string {
  if (ts === undefined) return '—';
  const d = new Date(ts);
  const today = new Date();
  const t = d.toLocaleTimeString(undefined, { hour12: false });
  return d.toDateString() === today.toDateString() ? t : `${d.toLocaleDateString()} ${t}`;
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Raspberry Pi `get_throttled` bits → short names; bits 0–3 now, 16–19 since boot. */
export function throttledFlags(bits: number | undefined): { now: string[]; past: string[] } {
  const names = ['under-voltage', 'freq-capped', 'throttled', 'soft-temp-limit'];
  const now: string[] = [];
  const past: string[] = [];
  if (bits === undefined) return { now, past };
  names.forEach((n, i) => {
    if (bits & (1 << i)) now.push(n);
    if (bits & (1 << (i + 16))) past.push(n);
  });
  return { now, past };
}

export function num(n: number | undefined, digits = 0): string {
  return n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits);
}

export function jobTitle(j: { id: number; name?: string; spec: { kind: string; argv?: string[]; source?: string } }): string {
  if (j.name) return j.name;
  if (j.spec.kind === 'exec' && j.spec.argv) return j.spec.argv.join(' ');
  return 'function';
}
