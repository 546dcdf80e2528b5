/**
 * The one place a Store is constructed from configuration (the master, the benches). A new
 * engine adds its `kind` here, implements `Store` (store.ts) and runs `storeConformance`.
 */
import { MemoryStore } from './memory-store.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';
import type { Store } from './store.ts';

export type StoreSpec = ({ readonly kind: 'sqlite'; readonly path: string } & SqliteStoreOptions) | { readonly kind: 'memory' };

export function createStore(spec: StoreSpec): Store {
  switch (spec.kind) {
    case 'sqlite':
      return new SqliteStore(spec.path, spec.synchronous ? { synchronous: spec.synchronous } : {});
    case 'memory':
      return new MemoryStore();
  }
}
