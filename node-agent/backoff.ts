/**
 * Reconnect delays: exponential with full jitter (AWS architecture blog, "Exponential Backoff
 * And Jitter"): `random(minMs, min(capMs, baseMs · 2^attempt))`. The small floor keeps a run of
 * lucky draws from becoming a tight loop; the attempt count is reset only after a connection
 * stayed up (see Agent), so a dispatcher that welcomes and drops at once still backs off.
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly capMs: number;
  readonly minMs: number;
  /** [0, 1); injectable for tests. */
  readonly random: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, capMs: 10_000, minMs: 50, random: Math.random };

export function backoffDelay(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(o.capMs, o.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const floor = Math.min(o.minMs, ceiling);
  return Math.round(floor + o.random() * (ceiling - floor));
}
