/**
 * A manual clock for the server's retransmit timers: nothing fires until the test says
 * so, so retransmit and give-up behaviour is tested without sleeping or racing real time.
 */
import type { StartTimer } from '../session.ts';

interface Pending {
  readonly fn: () => void;
  readonly ms: number;
}

export class ManualTimers {
  private readonly live = new Set<Pending>();

  readonly start: StartTimer = (fn, ms) => {
    const p: Pending = { fn, ms };
    this.live.add(p);
    return { refresh: () => undefined, clear: () => void this.live.delete(p) };
  };

  /** Timers armed and not cleared (one per running transfer). */
  get pending(): number {
    return this.live.size;
  }

  /** Every armed timer expires once (as if `retransmitMs` passed without an ACK). */
  fireAll(): void {
    for (const p of [...this.live]) if (this.live.has(p)) p.fn();
  }
}
