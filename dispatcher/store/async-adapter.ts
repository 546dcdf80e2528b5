/**
 * `asyncStore(store)`: an embedded, synchronous `Store` seen through the `AsyncStore` contract.
 * Each call runs synchronously and resolves with its result (a thrown error rejects).
 * `transaction(fn)` holds one engine transaction open while `fn` awaits (SQLite: BEGIN IMMEDIATE …
 * COMMIT, ROLLBACK on rejection; memory: no rollback, as its sync `transaction`); calls on the
 * adapter itself wait until an open transaction has ended, so only `tx` calls are inside it.
 */
import type { AsyncStore, Store } from './store.ts';

interface ManualTransactions {
  readonly manual?: { begin(): unknown; commit(): unknown; rollback(): unknown };
}

type AnyFn = (...args: unknown[]) => unknown;

export function asyncStore(sync: Store & ManualTransactions): AsyncStore {
  let open: Promise<unknown> | undefined;
  const methods = (inTx: boolean): Record<string, AnyFn> => {
    const out: Record<string, AnyFn> = {};
    for (const name of methodNames(sync)) {
      // Looked up at each call (a test may wrap a method of the store after the adapter was made).
      const fn: AnyFn = (...args) => (sync as unknown as Record<string, AnyFn>)[name]!(...args);
      out[name] = inTx
        ? async (...args) => fn(...args)
        : async (...args) => {
            for (let i = 0; open && i < 1_000_000; i++) await open.catch(() => undefined);
            return fn(...args);
          };
    }
    return out;
  };
  const txView = { ...methods(true), kind: sync.kind } as unknown as AsyncStore;
  const transaction = async <T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T> => {
    for (let i = 0; open && i < 1_000_000; i++) await open.catch(() => undefined);
    const run = (async () => {
      sync.manual?.begin();
      try {
        const out = await fn(txView);
        sync.manual?.commit();
        return out;
      } catch (e) {
        sync.manual?.rollback();
        throw e;
      }
    })();
    open = run;
    try {
      return await run;
    } finally {
      if (open === run) open = undefined;
    }
  };
  (txView as { transaction: unknown }).transaction = (inner: (tx: AsyncStore) => Promise<unknown>) => inner(txView);
  return { ...methods(false), kind: sync.kind, transaction } as unknown as AsyncStore;
}

function methodNames(store: Store): string[] {
  const names = new Set<string>();
  for (let p: object | null = store; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) {
      if (n !== 'constructor' && n !== 'transaction' && typeof (store as unknown as Record<string, unknown>)[n] === 'function') names.add(n);
    }
  }
  return [...names];
}
