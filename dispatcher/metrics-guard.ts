/**
 * Metrics of "no input ends the process" (dispatcher/guard.ts): handler exceptions caught,
 * inputs dropped, store writes waiting for a retry, and errors that escaped to the process guard;
 * and the store's write operations by name (`storeWriteMetrics`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Dispatcher } from './dispatcher.ts';
import type { StoreWriteOp } from './store/write-counter.ts';

export interface GuardMetrics {
  /** For the process guard (dispatcher/process-guard.ts). */
  readonly uncaught: Counter<'kind'>;
}

export function registerGuardMetrics(dispatcher: Dispatcher, registry: Registry): GuardMetrics {
  const handlerErrors = new Counter({
    name: 'picluster_handler_errors_total',
    help: 'Exceptions caught inside ws/socket/timer handlers (the input was dropped; store=true: a store write failed and is retried)',
    labelNames: ['channel', 'store'],
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'picluster_input_dropped_total',
    help: 'Frames and inputs dropped by validation or a cap, by channel and reason',
    labelNames: ['channel', 'reason'],
    registers: [registry],
  });
  const uncaught = new Counter({
    name: 'picluster_uncaught_errors_total',
    help: 'Errors that escaped every handler and were caught by the process guard',
    labelNames: ['kind'],
    registers: [registry],
  });
  new Gauge({
    name: 'picluster_store_pending_writes',
    help: 'Store writes refused by the store (disk full, busy) and kept for a retry',
    registers: [registry],
    collect() {
      this.set(dispatcher.pendingStoreWrites);
    },
  });
  for (const kind of ['exception', 'rejection']) uncaught.inc({ kind }, 0);
  dispatcher.on('handlerError', (e) => handlerErrors.inc({ channel: e.channel, store: String(e.store) }));
  dispatcher.on('inputDropped', (e) => dropped.inc({ channel: e.channel, reason: e.reason }));
  return { uncaught };
}

/** `picluster_store_writes_total{op}`: the store's write operations by name (store/write-counter.ts). */
export function storeWriteMetrics(registry: Registry, counts: ReadonlyMap<StoreWriteOp, number>): void {
  new Counter({
    name: 'picluster_store_writes_total',
    help: 'Store write operations by name (transaction = a commit the Dispatcher asked for; the writes inside it are counted too)',
    labelNames: ['op'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [op, n] of counts) this.inc({ op }, n);
    },
  });
}
