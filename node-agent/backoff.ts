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

export interface LongPauses {
  /** After the dispatcher refused this agent (401/403, close code refused); default 60 s. */
  readonly refusedBackoffMs?: number;
  /** After another connection for this node name replaced this one; default 30 s. */
  readonly replacedBackoffMs?: number;
}

/** The wait before the next connect: a long jittered pause after a refusal or a replacement, else backoffDelay. */
export function reconnectDelay(reason: 'refused' | 'replaced' | 'backoff', failures: number, o: BackoffOptions, pauses: LongPauses): number {
  if (reason === 'refused') return Math.round((pauses.refusedBackoffMs ?? 60_000) * (0.75 + 0.25 * o.random()));
  if (reason === 'replaced') return Math.round((pauses.replacedBackoffMs ?? 30_000) * (0.75 + 0.25 * o.random()));
  return backoffDelay(failures, o);
}
