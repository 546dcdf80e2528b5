import { asyncStore } from './async-adapter.ts';
import { storeConformance } from './conformance.ts';
import { MemoryStore } from './memory-store.ts';

storeConformance('memory', () => asyncStore(new MemoryStore()), { rollsBack: false });
