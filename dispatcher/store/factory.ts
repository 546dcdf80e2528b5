/**
 * The one place a store is constructed from configuration (the master, the benches). A new
 * engine adds its `kind` here, implements `AsyncStore` (store.ts; or `Store` if it is embedded
 * and synchronous) and runs `storeConformance` (conformance.ts).
 */
import { asyncStore } from './async-adapter.ts';
import { MemoryStore } from './memory-store.ts';
import { PostgresStore, type PostgresStoreOptions } from './postgres-store.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';
import type { AsyncStore, Store } from './store.ts';

export type StoreSpec = ({ readonly kind: 'sqlite'; readonly path: string } & SqliteStoreOptions) | { readonly kind: 'memory' };
export type AsyncStoreSpec = StoreSpec | ({ readonly kind: 'postgres'; readonly url: string } & PostgresStoreOptions);

/** The embedded engines, synchronous (the dispatcher runs on this contract today). */
export function createStore(spec: StoreSpec): Store {
  switch (spec.kind) {
    case 'sqlite':
      return new SqliteStore(spec.path, spec.synchronous ? { synchronous: spec.synchronous } : {});
    case 'memory':
      return new MemoryStore();
  }
}

/** Every engine, on the asynchronous contract (PostgreSQL connects and migrates before this resolves). */
export async function createAsyncStore(spec: AsyncStoreSpec): Promise<AsyncStore> {
  if (spec.kind === 'postgres') return PostgresStore.open(spec.url, spec.max !== undefined ? { max: spec.max } : {});
  return asyncStore(createStore(spec));
}
