/**
 * bench:dispatch's BullMQ consumers (a worker thread): N BullMQ Workers, each with its own
 * Redis connections and `concurrency` = the agents' slots, running no-op jobs. Every job is
 * sampled: processor called (dispatch) and `completed` emitted, i.e. the completion committed
 * to Redis (complete); reported to the main thread every 20 ms, as the picluster agents do.
 */
import { Worker } from 'bullmq';
import { parentPort, workerData } from 'node:worker_threads';
import { wall, type Samples } from './dispatch-harness.ts';

export interface ConsumersInit {
  readonly port: number;
  readonly queue: string;
  readonly consumers: number;
  readonly slots: number;
}
export type FromConsumers = { type: 'ready' } | { type: 'report'; completed: number; samples: Samples };

const init = workerData as ConsumersInit;
const port = parentPort!;
let completed = 0;
let out: Samples = { ids: [], dispatchedAt: [], completedAt: [] };
const dispatched = new Map<string, number>();
const workers = Array.from(
  { length: init.consumers },
  () =>
    new Worker(
      init.queue,
      async (job) => {
        dispatched.set(job.id!, wall());
      },
      { connection: { host: '127.0.0.1', port: init.port }, concurrency: init.slots, autorun: true },
    ),
);
for (const w of workers) {
  w.on('completed', (job) => {
    completed++;
    const at = dispatched.get(job.id!);
    if (at === undefined) return;
    dispatched.delete(job.id!);
    out.ids.push(job.id!);
    out.dispatchedAt.push(at);
    out.completedAt.push(wall());
  });
  w.on('error', (e) => console.error(`bullmq worker: ${e.message}`));
}
await Promise.all(workers.map((w) => w.waitUntilReady()));
port.postMessage({ type: 'ready' } satisfies FromConsumers);
const flush = setInterval(() => {
  if (!completed) return;
  port.postMessage({ type: 'report', completed, samples: out } satisfies FromConsumers);
  completed = 0;
  out = { ids: [], dispatchedAt: [], completedAt: [] };
}, 20);
port.on('message', (m: { type: 'stop' }) => {
  if (m.type !== 'stop') return;
  clearInterval(flush);
  void Promise.all(workers.map((w) => w.close(true))).then(() => port.postMessage({ type: 'stopped' }));
});
