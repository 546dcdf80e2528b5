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
  readonly write: () => unknown;
  readonly droppable: boolean;
  /** When its write was asked for (run's call order): a later write of the key that went through supersedes it. */
  readonly order: number;
}

export class StoreRetry {
  private readonly pending = new Map<string, Kept>();
  private seq = 0;
  private order = 0;
  private dropped = 0;
  /** Writes run one after another, in the order they were asked for (a PostgreSQL pool would reorder them). */
  private tail: Promise<unknown> = Promise.resolve();
  private inFlight = 0;
  private retrying: Promise<void> | undefined;

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
   * Runs `write` (sync or returning a Promise) after the writes asked for before it — at once when
   * none is in flight, so an embedded store writes before this returns; on failure calls `undo`
   * (rebuild what the failed write left half-done in memory) and keeps `write` for `retry()`. A
   * `key` of undefined makes a unique, droppable entry. Resolves true when the write went through;
   * a kept write of the same key asked for before it is then forgotten (this one superseded it:
   * a node's save after its delete failed in flight, for one).
   */
  run(key: string | undefined, write: () => unknown, undo?: () => unknown): Promise<boolean> {
    const k = key ?? `#${++this.seq}`;
    const order = ++this.order;
    // A newer write of the same key replaces an older kept one (it carries the newest state).
    if (this.pending.size > 0 && key !== undefined && this.pending.has(k)) {
      this.pending.set(k, { write, droppable: false, order });
      return Promise.resolve(false);
    }
    const attempt = async (): Promise<boolean> => {
      try {
        await write();
        this.superseded(k, order);
        return true;
      } catch (e) {
        try {
          await undo?.();
        } catch (u) {
          this.log.error({ err: u }, 'could not roll back the in-memory view after a failed store write');
        }
        this.keep(k, { write, droppable: key === undefined, order });
        this.hooks.failed(this.pending.size, e);
        return false;
      }
    };
    const done = this.inFlight++ === 0 ? attempt() : this.tail.then(attempt);
    this.tail = done.finally(() => this.inFlight--);
    return done;
  }

  /** No write in flight or retrying. */
  get quiet(): boolean {
    return this.inFlight === 0 && !this.retrying;
  }

  /** Resolves once every write asked for so far has been tried. */
  async idle(): Promise<void> {
    for (let i = 0; i < 1000 && (this.inFlight > 0 || this.retrying); i++) await Promise.all([this.tail, this.retrying]);
  }

  /** Forgets a kept write (the node it saves was removed). */
  forget(key: string): void {
    this.pending.delete(key);
  }

  /** Tries the kept writes in order (after the writes in flight); stops at the first that still fails. */
  retry(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    this.retrying ??= this.retryNow().finally(() => (this.retrying = undefined));
    return this.retrying;
  }

  private async retryNow(): Promise<void> {
    await this.tail;
    for (const [k, kept] of this.pending) {
      try {
        await kept.write();
      } catch (e) {
        this.hooks.failed(this.pending.size, e);
        return;
      }
      // a newer write of the key that came in meanwhile stays kept (it carries newer state)
      if (this.pending.get(k) === kept) this.pending.delete(k);
    }
    if (this.pending.size > 0) return; // the next round writes what came in meanwhile
    this.recovered();
  }

  /** A write asked for as `order` went through: a kept write of its key asked for earlier is moot. */
  private superseded(k: string, order: number): void {
    const kept = this.pending.get(k);
    if (!kept || kept.order > order) return;
    this.pending.delete(k);
    if (this.pending.size === 0 && !this.retrying) this.recovered();
  }

  private recovered(): void {
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
