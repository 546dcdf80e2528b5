/**
 * The pool of TFTP transfer workers (transfer-worker.ts), main-thread side. One thread
 * sending every datagram was the bottleneck with many clients at once: a send is mostly
 * kernel work (on loopback the kernel even delivers to the receiver inside `sendmsg`), so
 * the only way to more datagrams per second is more threads sending. Transfers go to the
 * worker with the fewest running; each reports its end back, which the server turns into
 * metrics and a boot event exactly as for an in-process session.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../common/logger.ts';
import type { SessionEnd } from './session.ts';
import type { FromWorker, WorkerStart } from './worker-protocol.ts';

export interface WorkerTransfer {
  end(outcome: string, reason?: string): void;
}

interface Slot {
  readonly worker: Worker;
  running: number;
  /** The worker loaded and said so; only ready workers get transfers. */
  ready: boolean;
}

/** Workers that die are replaced at most this many times (a worker that cannot load must not spin). */
const MAX_RESPAWNS = 5;

export type WorkerJob = Omit<WorkerStart, 'type' | 'id'>;

export class TransferWorkers {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { slot: Slot; onEnd: (end: SessionEnd) => void }>();
  private nextId = 1;
  /** Transfers handed to a worker so far. */
  started = 0;
  private closing = false;
  private drained: (() => void) | undefined;
  private respawns = 0;
  private readonly readyWaiters: (() => void)[] = [];

  /** Threads start now: a worker takes ~0.5 s to load, which a first boot must not wait for. */
  constructor(
    count: number,
    private readonly log: Logger,
    private readonly onIgnored: (reason: string) => void,
    /** The worker's entry module (tests pass a broken one). */
    private readonly entry: URL = new URL('./transfer-worker.mjs', import.meta.url),
  ) {
    for (let i = 0; i < count; i++) this.slots.push(this.spawn());
  }

  /** Workers ready for transfers. */
  get size(): number {
    return this.slots.filter((s) => s.ready).length;
  }

  /** Whether a transfer can go to a worker now (else the caller runs it in-process). */
  available(): boolean {
    return !this.closing && this.slots.some((s) => s.ready);
  }

  /** Resolves once every worker has loaded (or failed to). */
  whenReady(): Promise<void> {
    if (this.slots.every((s) => s.ready)) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  private settleWaiters(): void {
    if (!this.slots.every((s) => s.ready)) return;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private spawn(): Slot {
    const worker = new Worker(this.entry);
    const slot: Slot = { worker, running: 0, ready: false };
    worker.unref();
    worker.on('message', (m: FromWorker) => {
      try {
        if (m.type === 'ready') {
          slot.ready = true;
          this.settleWaiters();
          return;
        }
        this.onMessage(m);
      } catch (e) {
        this.log.error({ err: e }, 'tftp worker message handler failed');
      }
    });
    worker.on('error', (e) => this.log.error({ err: e }, 'tftp transfer worker failed'));
    worker.on('exit', (code) => {
      // Its transfers are gone: end them, and replace the worker unless shutting down.
      for (const [id, p] of [...this.pending]) {
        if (p.slot !== slot) continue;
        this.pending.delete(id);
        p.onEnd({ outcome: 'error', reason: `transfer worker exited (${code})`, bytesAcked: 0, bytesSent: 0, retransmits: 0, acknowledged: false });
      }
      const i = this.slots.indexOf(slot);
      if (i < 0 || this.closing) return;
      if (this.respawns < MAX_RESPAWNS) {
        this.respawns++;
        this.log.warn({ code }, 'tftp transfer worker exited; replacing it');
        this.slots[i] = this.spawn();
      } else {
        this.log.error({ code }, 'tftp transfer workers keep exiting; transfers run on the main thread');
        this.slots.splice(i, 1);
        this.settleWaiters();
      }
    });
    return slot;
  }

  private onMessage(m: Exclude<FromWorker, { type: 'ready' }>): void {
    if (m.type === 'ignored') {
      this.onIgnored(m.reason);
      return;
    }
    if (m.type === 'fault') {
      this.log.error({ id: m.id, message: m.message }, 'tftp transfer handler failed (worker)');
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.slot.running--;
    p.onEnd(m.end);
    if (this.pending.size === 0) this.drained?.();
  }

  /** Starts a transfer on the least busy worker. */
  run(job: WorkerJob, onEnd: (end: SessionEnd) => void): WorkerTransfer {
    const slot = this.slots.filter((s) => s.ready).reduce((a, b) => (b.running < a.running ? b : a));
    const id = this.nextId++;
    this.started++;
    slot.running++;
    this.pending.set(id, { slot, onEnd });
    slot.worker.postMessage({ type: 'start', id, ...job } satisfies WorkerStart);
    return { end: (outcome, reason) => slot.worker.postMessage({ type: 'abort', id, reason: reason ?? outcome }) };
  }

  /** Aborts what is running, waits (briefly) for the reports, stops the threads. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.pending.size > 0) {
      const drained = new Promise<void>((resolve) => (this.drained = resolve));
      for (const [id, p] of this.pending) p.slot.worker.postMessage({ type: 'abort', id, reason: 'server closed' });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
      clearTimeout(timer);
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
