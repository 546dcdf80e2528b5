// Worker-thread entry for benchmarks: workers do not inherit the main thread's tsx loader,
// so register it here, then load the TypeScript module named in workerData.entry.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.entry);
