/**
 * Retention: history (boot/node events, stale records, resolved alerts; `store.historyDays`) and
 * finished jobs with their attempts, output and artifacts (`store.jobHistoryDays`, default
 * `historyDays`). At start, hourly, and on demand (`POST /api/admin/prune`, `picluster prune`).
 *
 * Jobs go in batches of `batchSize` (one short transaction each) and the event loop is yielded
 * between batches, so dispatch, heartbeats and results go on during a large prune. An artifact
 * blob is removed only when no remaining attempt names it (artifacts are content-addressed and
 * shared). One run at a time: a second request joins the one in progress.
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { AsyncStore } from './store/store.ts';

export interface PruneReport {
  readonly jobs: number;
  readonly attempts: number;
  readonly artifacts: number;
  readonly history: number;
  readonly batches: number;
  readonly ms: number;
}

export type PrunedKind = 'jobs' | 'attempts' | 'artifacts' | 'history';

export interface RetentionOptions {
  readonly store: Pick<AsyncStore, 'pruneHistory' | 'pruneFinishedJobs' | 'artifactsNamed'>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly historyDays: number;
  readonly jobHistoryDays: number;
  /** Removes an artifact blob (the artifacts BlobStore). */
  readonly removeArtifact?: (sha256: string) => Promise<void>;
  readonly batchSize?: number;
  /** Counts what was deleted (`picluster_pruned_total{kind}`). */
  readonly onPruned?: (kind: PrunedKind, n: number) => void;
}

const DAY_MS = 86_400_000;

export class Retention {
  private running: Promise<PruneReport> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: RetentionOptions) {}

  /** Prunes now; `olderThanDays` overrides `jobHistoryDays` for the jobs (history keeps `historyDays`). */
  prune(olderThanDays?: number): Promise<PruneReport> {
    this.running ??= this.run(olderThanDays ?? this.o.jobHistoryDays).finally(() => (this.running = undefined));
    return this.running;
  }

  /** Prunes at once, then every `everyMs` (hourly). */
  start(everyMs = 3_600_000): void {
    const tick = () =>
      void this.prune().catch((e: unknown) => {
        this.o.log.error({ err: e }, 'pruning failed');
      });
    tick();
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async run(jobDays: number): Promise<PruneReport> {
    const { store, clock, log } = this.o;
    const started = performance.now();
    const now = clock.now();
    const count = (kind: PrunedKind, n: number) => n && this.o.onPruned?.(kind, n);
    const history = await store.pruneHistory(now - this.o.historyDays * DAY_MS);
    count('history', history);
    const batch = Math.max(1, this.o.batchSize ?? 500);
    const before = now - jobDays * DAY_MS;
    let jobs = 0;
    let attempts = 0;
    let batches = 0;
    const shas = new Set<string>();
    for (;;) {
      const r = await store.pruneFinishedJobs(before, batch);
      batches++;
      jobs += r.jobs;
      attempts += r.attempts;
      count('jobs', r.jobs);
      count('attempts', r.attempts);
      for (const s of r.artifacts) shas.add(s);
      if (r.jobs < batch) break;
      await yieldLoop();
    }
    let artifacts = 0;
    if (shas.size && this.o.removeArtifact) {
      // Still named by a job that stays: kept. Scanned in pages, yielding between them.
      for (let after = 0; ;) {
        const page = await store.artifactsNamed(shas, after, 5000);
        for (const s of page.named) shas.delete(s);
        if (page.lastId === 0 || shas.size === 0) break;
        after = page.lastId;
        await yieldLoop();
      }
      for (const s of shas) {
        await this.o.removeArtifact(s);
        artifacts++;
      }
      count('artifacts', artifacts);
    }
    const report = { jobs, attempts, artifacts, history, batches, ms: Math.round(performance.now() - started) };
    if (jobs || history) log.info({ ...report, jobHistoryDays: jobDays, historyDays: this.o.historyDays }, 'old jobs and history pruned');
    return report;
  }
}
