/**
 * "No input ends the process": every ws message/close handler, socket callback and timer of the
 * master runs through `guarded`. An exception inside is caught, logged once per call, and counted
 * (`handlerError` event → `picluster_handler_errors_total{channel}`); a store failure among them
 * (disk full, busy, I/O error) is also flagged so the master raises an alert. Inputs that are
 * well-formed transport frames but not a valid message are dropped with a reason
 * (`inputDropped` → `picluster_input_dropped_total{channel,reason}`), never thrown.
 */
import type { Logger } from '../common/logger.ts';
import type { DispatcherEvents } from './events.ts';

/** Where a handler runs; a metric label, so the set is closed. */
export type GuardChannel = 'agent' | 'ui' | 'shell' | 'http' | 'timer' | 'netboot' | 'store' | 'process';

/** The part of the Dispatcher a guard reports to (its typed events feed the metrics). */
export interface GuardSink {
  emit<K extends keyof DispatcherEvents>(event: K, ...args: DispatcherEvents[K]): boolean;
}

/** better-sqlite3's `SqliteError` codes (and pg's disk/IO classes) that mean "the store cannot write now". */
const STORE_CODES = /^(SQLITE_(FULL|IOERR|BUSY|LOCKED|READONLY|CANTOPEN|CORRUPT|NOMEM|PROTOCOL)|ENOSPC|EIO|EDQUOT|53100|58030)/;

export function isStoreError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && STORE_CODES.test(code)) return true;
  return (e as { name?: unknown }).name === 'SqliteError';
}

/** Reports a caught handler exception: log + event. Never throws itself. */
export function reportHandlerError(sink: GuardSink, log: Logger, channel: GuardChannel, what: string, e: unknown): void {
  try {
    const store = isStoreError(e);
    log.error(
      { err: e, channel, what, store },
      store ? 'a store write failed inside a handler; it will be retried' : 'a handler failed; the input was dropped',
    );
    sink.emit('handlerError', { channel, what, store, message: e instanceof Error ? e.message : String(e) });
  } catch {
    /* a reporting failure must not escape either */
  }
}

/** Wraps a callback so that nothing it throws escapes into the event loop. */
export function guarded<A extends unknown[]>(
  sink: GuardSink,
  log: Logger,
  channel: GuardChannel,
  what: string,
  fn: (...args: A) => unknown,
): (...args: A) => void {
  return (...args: A) => {
    try {
      const out = fn(...args);
      // An async handler's rejection is caught the same way.
      if (out instanceof Promise) out.catch((e: unknown) => reportHandlerError(sink, log, channel, what, e));
    } catch (e) {
      reportHandlerError(sink, log, channel, what, e);
    }
  };
}

/** Counts a dropped input (bad frame, unknown type, over a cap). */
export function dropInput(sink: GuardSink, channel: GuardChannel, reason: string): void {
  sink.emit('inputDropped', { channel, reason });
}
