/**
 * Counts the store's write operations by name, whatever the engine (a Proxy over any Store, so
 * it does not care whether the methods are sync or async). `picluster_store_writes_total{op}`
 * reads the counts; `npm run bench:scale` turns them into a write rate. `transaction` counts
 * commits asked for by the Dispatcher (the pump's one per turn among them); the operations
 * inside it are counted on their own as well.
 */
export const STORE_WRITE_OPS = [
  'transaction',
  'insertJobs',
  'startAttempts',
  'endAttempt',
  'cancelQueuedJob',
  'markCancelRequested',
  'recordStaleResult',
  'saveNode',
  'deleteNode',
  'setNodeRemoved',
  'addNodeEvent',
  'addBootEvent',
  'insertPowerOp',
  'completePowerOp',
  'raiseAlert',
  'resolveAlert',
  'pruneHistory',
  'capHistory',
  'pruneFinishedJobs',
  'setMeta',
] as const;
export type StoreWriteOp = (typeof STORE_WRITE_OPS)[number];

/** Batch operations, counted as the operation they batch, once per item (the rate stays per attempt ended). */
const BATCHES: ReadonlyMap<PropertyKey, { op: StoreWriteOp; items: (args: unknown[]) => number }> = new Map([
  ['endAttempts', { op: 'endAttempt', items: (args: unknown[]) => (Array.isArray(args[0]) ? args[0].length : 0) }],
]);

export interface StoreWriteCounts {
  readonly counts: ReadonlyMap<StoreWriteOp, number>;
}

/** The same store, counting each call of a write operation; `counts` is live. */
export function countStoreWrites<S extends object>(store: S): { store: S; counts: ReadonlyMap<StoreWriteOp, number> } {
  const counts = new Map<StoreWriteOp, number>(STORE_WRITE_OPS.map((op) => [op, 0]));
  return { store: counted(store, counts), counts };
}

function counted<S extends object>(store: S, counts: Map<StoreWriteOp, number>): S {
  const wrapped = new Map<PropertyKey, unknown>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      const batch = BATCHES.get(prop);
      if (typeof value !== 'function' || (!batch && !counts.has(prop as StoreWriteOp))) return value;
      let fn = wrapped.get(prop);
      if (!fn) {
        const op = batch?.op ?? (prop as StoreWriteOp);
        const method = value as (...a: unknown[]) => unknown;
        fn = function (this: unknown, ...args: unknown[]) {
          counts.set(op, counts.get(op)! + (batch ? batch.items(args) : 1));
          // An AsyncStore's transaction hands its body a `tx`: the writes made on it are counted too.
          const body = args[0];
          if (op === 'transaction' && typeof body === 'function' && body.length > 0)
            return method.call(this, (tx: object) => (body as (t: object) => unknown)(counted(tx, counts)));
          return method.apply(this, args);
        };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
  return proxy;
}
