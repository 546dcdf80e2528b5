/**
 * The on-idle hook (PICLUSTER_AGENT_ON_IDLE): runs once no job has run for `afterMs` since the
 * last running job ended; a job that starts meanwhile cancels it. The image drops the full ICU
 * data with it (image/rootfs/icu-data): a stream of Node jobs with short gaps between them keeps
 * the data instead of fetching 9.5 MB again for each job.
 */
export interface IdleTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: IdleTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class IdleHook {
  private readonly running = new Set<number>();
  private pending: unknown;

  constructor(
    private readonly run: () => void,
    private readonly afterMs: number,
    private readonly timers: IdleTimers = realTimers,
  ) {}

  started(attemptId: number): void {
    this.running.add(attemptId);
    this.cancel();
  }

  finished(attemptId: number): void {
    if (!this.running.delete(attemptId) || this.running.size > 0) return;
    this.cancel();
    if (this.afterMs <= 0) this.run();
    else
      this.pending = this.timers.set(() => {
        this.pending = undefined;
        if (this.running.size === 0) this.run();
      }, this.afterMs);
  }

  /** The agent stops: a pending run happens now (its jobs were killed), not never. */
  flush(): void {
    if (this.pending === undefined) return;
    this.cancel();
    this.run();
  }

  cancel(): void {
    if (this.pending === undefined) return;
    this.timers.clear(this.pending);
    this.pending = undefined;
  }
}
