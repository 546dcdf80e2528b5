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
}

export type WorkerJob = Omit<WorkerStart, 'type' | 'id'>;

export class TransferWorkers {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { slot: Slot; onEnd: (end: SessionEnd) => void }>();
  private nextId = 1;
  /** Transfers handed to a worker so far. */
  started = 0;
  private closing = false;
  private drained: (() => void) | undefined;

  /** Threads start now: a worker takes ~0.5 s to load, which a first boot must not wait for. */
  constructor(
    private readonly count: number,
    private readonly log: Logger,
    private readonly onIgnored: (reason: string) => void,
  ) {
    for (let i = 0; i < count; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(): Slot {
    const worker = new Worker(new URL('./transfer-worker.mjs', import.meta.url));
    const slot: Slot = { worker, running: 0 };
    worker.unref();
    worker.on('message', (m: FromWorker) => {
      try {
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
      if (i >= 0 && !this.closing) {
        this.log.warn({ code }, 'tftp transfer worker exited; replacing it');
        this.slots[i] = this.spawn();
      }
    });
    return slot;
  }

  private onMessage(m: FromWorker): void {
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
    while (this.slots.length < this.count) this.slots.push(this.spawn());
    const slot = this.slots.reduce((a, b) => (b.running < a.running ? b : a));
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
