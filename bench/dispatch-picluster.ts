/**
 * bench:dispatch's picluster system: the real Dispatcher + fastify app + store (SQLite by
 * default, WAL, the durable default a master uses; or memory, or PostgreSQL at `url`) on loopback, jobs submitted over HTTP
 * (`POST /api/jobs`, answered after the commit) by a client in a worker thread
 * (bench/dispatch-submitter.ts), agents in another (bench/dispatch-agents.ts). The server's CPU is the main thread's (the dispatcher's).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Registry } from 'prom-client';
import type { Clock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import type { AgentsInit, FromAgents } from './dispatch-agents.ts';
import type { FromSubmitter, SubmitterInit, ToSubmitter } from './dispatch-submitter.ts';
import { procCpuSeconds, wall, type Samples, type Sut } from './dispatch-harness.ts';

const SECRET = 'bench-secret-0123456789abcdef';
const ADMIN = 'bench-admin-0123456789abcdef';

export async function startPicluster(o: {
  agents: number;
  slots: number;
  store: 'sqlite' | 'memory' | 'postgres';
  /** With `store: 'postgres'`: the database (bench/dispatch.ts starts a server: store/testing/postgres.ts). */
  url?: string;
  synchronous?: 'full' | 'normal';
  name?: string;
}): Promise<Sut> {
  const { Dispatcher } = await import('../dispatcher/dispatcher.ts');
  const { buildApp } = await import('../dispatcher/http/app.ts');
  const { createMetrics } = await import('../dispatcher/metrics.ts');
  const { createAsyncStore } = await import('../dispatcher/store/factory.ts');
  // The master's clock is whole milliseconds (PostgreSQL's BIGINT columns refuse fractions); SQLite and memory keep the fine one.
  const clock: Clock = { now: o.store === 'postgres' ? () => Math.floor(wall()) : wall };
  const dir = mkdtempSync(join(tmpdir(), 'picluster-bench-'));
  const store = await createAsyncStore(
    o.store === 'memory'
      ? { kind: 'memory' }
      : o.store === 'postgres'
        ? { kind: 'postgres', url: o.url! }
        : { kind: 'sqlite', path: join(dir, 'bench.db'), synchronous: o.synchronous ?? 'full' },
  );
  const dispatcher = new Dispatcher({
    store,
    clock,
    log: silentLogger(),
    clusterSecret: SECRET,
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 2000,
      missedHeartbeats: 3,
      restartGraceMs: 1000,
      defaultRetries: 0,
      retryBackoffMs: 0,
      retryBackoffMaxMs: 0,
      outputLimitBytes: 65536,
    },
  });
  await dispatcher.start();
  const app = await buildApp({
    dispatcher,
    registry: createMetrics(dispatcher, new Registry(), { processMetrics: false }),
    log: silentLogger(),
    auth: { adminToken: ADMIN },
    version: 'bench',
    storeKind: store.kind,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
    workerData: {
      entry: new URL('./dispatch-agents.ts', import.meta.url).href,
      url,
      secret: SECRET,
      agents: o.agents,
      slots: o.slots,
    } satisfies AgentsInit & { entry: string },
  });
  let report: ((completed: number, samples: Samples | undefined) => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: FromAgents) => {
      if (m.type === 'ready') resolve();
      else report?.(m.completed, m.samples);
    });
    worker.once('error', reject);
  });
  // The client in a thread of its own (bench/dispatch-submitter.ts), as BullMQ's is outside redis-server.
  const submitter = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
    workerData: { entry: new URL('./dispatch-submitter.ts', import.meta.url).href, url, token: ADMIN } satisfies SubmitterInit & { entry: string },
  });
  const waiting = new Map<number, { resolve: (ids: string[]) => void; reject: (e: Error) => void }>();
  let seq = 0;
  await new Promise<void>((resolve, reject) => {
    submitter.on('message', (m: FromSubmitter) => {
      if (m.type === 'ready') return resolve();
      const w = waiting.get(m.seq);
      waiting.delete(m.seq);
      if (m.ids) w?.resolve(m.ids);
      else w?.reject(new Error(m.error));
    });
    submitter.once('error', reject);
  });
  return {
    name: o.name ?? 'picluster',
    submit(n) {
      return new Promise((resolve, reject) => {
        waiting.set(++seq, { resolve, reject });
        submitter.postMessage({ type: 'submit', seq, n } satisfies ToSubmitter);
      });
    },
    onReport(cb) {
      report = cb;
    },
    serverCpuSeconds: () => procCpuSeconds(process.pid, process.pid),
    async close() {
      worker.postMessage({ type: 'stop' });
      await new Promise((r) => setTimeout(r, 50));
      await worker.terminate();
      await submitter.terminate();
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
