import { storeConformance } from './conformance.ts';
import { MemoryStore } from './memory-store.ts';

storeConformance('memory', () => new MemoryStore());
