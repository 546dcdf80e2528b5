/**
 * Store writes made from handlers (a node record on disconnect, a node event, ending a lost node's
 * attempts) must not crash the master when the store cannot write (disk full, busy, I/O error).
 * `run(key, write)` tries the write now; if it throws, the write is kept under its key (the newest
 * write per key wins: a node record is saved as it is at retry time) and tried again on `retry()`,
 * which the master's tick calls. The table is bounded: past `maxPending` the oldest kept writes of
 * the droppable kind (history rows) are given up and counted; node records and attempt ends are
 * always kept (there is at most one per node).
 */
import type { Logger } from '../common/logger.ts';

export interface StoreRetryHooks {
  /** The store failed (first failure after a healthy period, and every failed retry round). */
  failed(pending: number, error: unknown): void;
  /** Every kept write went through again. */
  recovered(): void;
}

interface Kept {
  readonly write: () => void;
  readonly droppable: boolean;
}

export class StoreRetry {
  private readonly pending = new Map<string, Kept>();
  private seq = 0;
  private dropped = 0;

  constructor(
    private readonly log: Logger,
    private readonly hooks: StoreRetryHooks,
    private readonly maxPending = 10_000,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** History rows given up because the retry table was full. */
  get droppedWrites(): number {
    return this.dropped;
  }

  /**
   * Runs `write`; on failure calls `undo` (rebuild what the failed write left half-done in memory)
   * and keeps `write` for `retry()`. A `key` of undefined makes a unique, droppable entry.
   */
  run(key: string | undefined, write: () => void, undo?: () => void): boolean {
    const k = key ?? `#${++this.seq}`;
    // A newer write of the same key replaces an older kept one (it carries the newest state).
    if (this.pending.size > 0 && key !== undefined && this.pending.has(k)) {
      this.pending.set(k, { write, droppable: false });
      return false;
    }
    try {
      write();
      return true;
    } catch (e) {
      try {
        undo?.();
      } catch (u) {
        this.log.error({ err: u }, 'could not roll back the in-memory view after a failed store write');
      }
      this.keep(k, { write, droppable: key === undefined });
      this.hooks.failed(this.pending.size, e);
      return false;
    }
  }

  /** Forgets a kept write (the node it saves was removed). */
  forget(key: string): void {
    this.pending.delete(key);
  }

  /** Tries the kept writes in order; stops at the first that still fails. */
  retry(): void {
    if (this.pending.size === 0) return;
    for (const [k, kept] of this.pending) {
      try {
        kept.write();
      } catch (e) {
        this.hooks.failed(this.pending.size, e);
        return;
      }
      this.pending.delete(k);
    }
    this.log.warn({}, 'the store accepts writes again; kept writes were committed');
    this.hooks.recovered();
  }

  private keep(k: string, kept: Kept): void {
    this.pending.set(k, kept);
    if (this.pending.size <= this.maxPending) return;
    for (const [old, v] of this.pending) {
      if (this.pending.size <= this.maxPending) break;
      if (!v.droppable) continue;
      this.pending.delete(old);
      this.dropped++;
    }
  }
}
