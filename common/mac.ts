/** MAC addresses and Pi serials are normalised at the edge (STYLE.md). */

const MAC_RE = /^([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})$/i;

/** `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff`-less forms → `aa:bb:cc:dd:ee:ff`; undefined when not a MAC. */
export function normalizeMac(input: string): string | undefined {
  const m = MAC_RE.exec(input.trim());
  if (!m) return undefined;
  return m.slice(1, 7).join(':').toLowerCase();
}

export function macFromBytes(buf: Uint8Array): string {
  return Array.from(buf.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Pi serial: 8 lowercase hex digits (the last 8 of the 16-digit /proc/cpuinfo serial). */
export function normalizeSerial(input: string): string | undefined {
  const s = input.trim().toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{8,16}$/.test(s)) return undefined;
  return s.slice(-8);
}
