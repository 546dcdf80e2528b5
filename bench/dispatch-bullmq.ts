/**
 * bench:dispatch's BullMQ peer: BullMQ 5 on a redis-server this bench started (bench/redis.ts,
 * AOF everysec), jobs added with `Queue.addBulk` (resolved once Redis has them), completed
 * jobs kept (as picluster keeps every job), consumers in a worker thread
 * (bench/dispatch-bullmq-consumers.ts). The server's CPU is redis-server's.
 */
import { Queue } from 'bullmq';
import { Worker } from 'node:worker_threads';
import type { ConsumersInit, FromConsumers } from './dispatch-bullmq-consumers.ts';
import { procCpuSeconds, type Samples, type Sut } from './dispatch-harness.ts';
import type { RedisServer } from './redis.ts';

let rounds = 0;

export async function startBullmq(o: { redis: RedisServer; consumers: number; slots: number }): Promise<Sut> {
  const name = `bench-${process.pid}-${++rounds}`;
  const connection = { host: '127.0.0.1', port: o.redis.port };
  const queue = new Queue(name, { connection });
  await queue.waitUntilReady();
  const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
    workerData: {
      entry: new URL('./dispatch-bullmq-consumers.ts', import.meta.url).href,
      port: o.redis.port,
      queue: name,
      consumers: o.consumers,
      slots: o.slots,
    } satisfies ConsumersInit & { entry: string },
  });
  let report: ((completed: number, samples: Samples | undefined) => void) | undefined;
  let stopped: (() => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: FromConsumers | { type: 'stopped' }) => {
      if (m.type === 'ready') resolve();
      else if (m.type === 'stopped') stopped?.();
      else report?.(m.completed, m.samples);
    });
    worker.once('error', reject);
  });
  return {
    name: 'bullmq',
    async submit(n) {
      const jobs = await queue.addBulk(Array.from({ length: n }, () => ({ name: 'noop', data: { argv: ['true'] } })));
      return jobs.map((j) => j.id!);
    },
    onReport(cb) {
      report = cb;
    },
    serverCpuSeconds: () => procCpuSeconds(o.redis.pid),
    async close() {
      const done = new Promise<void>((r) => (stopped = r));
      worker.postMessage({ type: 'stop' });
      await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
      await worker.terminate();
      // The next round starts from an empty Redis (the client is ioredis; BullMQ's type omits flushall).
      await ((await queue.client) as unknown as { flushall(): Promise<unknown> }).flushall();
      await queue.close();
    },
  };
}
