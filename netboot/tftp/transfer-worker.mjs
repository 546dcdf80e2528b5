// Entry of a TFTP transfer worker (workers.ts). Worker threads do not inherit the main
// thread's tsx loader, so register it here, then load the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./transfer-worker.ts');
