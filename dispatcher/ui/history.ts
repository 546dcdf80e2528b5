/**
 * Small server-side rings the UI draws from, fed by Dispatcher events (no polling):
 * - per-minute counts of finished jobs (succeeded / failed / cancelled) over the last hour;
 * - per-node health samples (CPU, memory, temperature) taken from heartbeats, at most one per
 *   `sampleEveryMs`, the last `samplesPerNode` kept;
 * - the most recent node and boot events, for the dashboard's feed.
 * Everything here is bounded, so a long-running master with 1,000 nodes stays small.
 */
import type { Clock } from '../../common/clock.ts';
import type { Health } from '../../common/protocol.ts';
import type { BootEvent } from '../../netboot/boot-event.ts';
import type { Dispatcher } from '../dispatcher.ts';
import type { Job } from '../domain/jobs.ts';
import type { NodeEvent } from '../domain/nodes.ts';
import type { NodeView } from '../views.ts';

export interface MinuteCount {
  /** Start of the minute, ms since the epoch. */
  readonly t: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface HealthSample {
  readonly t: number;
  readonly cpuPercent?: number;
  readonly load1?: number;
  readonly memUsedPercent?: number;
  readonly temperatureC?: number;
  readonly throttled?: number;
}

export type FeedItem = ({ type: 'node' } & NodeEvent) | ({ type: 'boot' } & BootEvent);

export interface HistoryOptions {
  readonly minutes?: number;
  readonly sampleEveryMs?: number;
  readonly samplesPerNode?: number;
  readonly feedSize?: number;
}

const MINUTE = 60_000;

export function healthSample(t: number, h: Health): HealthSample {
  const mem = h.memTotalMb && h.memAvailableMb !== undefined ? Math.round((1000 * (h.memTotalMb - h.memAvailableMb)) / h.memTotalMb) / 10 : undefined;
  return {
    t,
    ...(h.cpuPercent !== undefined ? { cpuPercent: h.cpuPercent } : {}),
    ...(h.load1 !== undefined ? { load1: h.load1 } : {}),
    ...(mem !== undefined ? { memUsedPercent: mem } : {}),
    ...(h.temperatureC !== undefined ? { temperatureC: h.temperatureC } : {}),
    ...(h.throttled !== undefined ? { throttled: h.throttled } : {}),
  };
}

export class UiHistory {
  private readonly minutes: number;
  private readonly sampleEveryMs: number;
  private readonly samplesPerNode: number;
  private readonly feedSize: number;
  private readonly counts: MinuteCount[] = [];
  private readonly health = new Map<string, HealthSample[]>();
  private readonly feed: FeedItem[] = [];
  /** Last known state per job id, so a finish is counted once. */
  private readonly terminalSeen = new Map<number, string>();
  private readonly off: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    options: HistoryOptions = {},
  ) {
    this.minutes = options.minutes ?? 60;
    this.sampleEveryMs = options.sampleEveryMs ?? 5_000;
    this.samplesPerNode = options.samplesPerNode ?? 360;
    this.feedSize = options.feedSize ?? 200;
  }

  /** Subscribes to the Dispatcher's events; returns a function that unsubscribes. */
  attach(dispatcher: Dispatcher): () => void {
    const onJob = (job: Job) => this.onJob(job);
    const onNode = (node: NodeView) => this.onNode(node);
    const onNodeEvent = (e: NodeEvent) => this.push({ type: 'node', ...e });
    const onBoot = (e: BootEvent) => this.push({ type: 'boot', ...e });
    dispatcher.on('job', onJob);
    dispatcher.on('node', onNode);
    dispatcher.on('nodeEvent', onNodeEvent);
    dispatcher.on('bootEvent', onBoot);
    const detach = () => {
      dispatcher.off('job', onJob);
      dispatcher.off('node', onNode);
      dispatcher.off('nodeEvent', onNodeEvent);
      dispatcher.off('bootEvent', onBoot);
    };
    this.off.push(detach);
    return detach;
  }

  onJob(job: Job): void {
    if (job.state !== 'succeeded' && job.state !== 'failed' && job.state !== 'cancelled') return;
    if (this.terminalSeen.get(job.id) === job.state) return;
    this.terminalSeen.set(job.id, job.state);
    if (this.terminalSeen.size > 10_000) {
      // Map keeps insertion order: forget the oldest half.
      let n = this.terminalSeen.size / 2;
      for (const k of this.terminalSeen.keys()) {
        if (n-- <= 0) break;
        this.terminalSeen.delete(k);
      }
    }
    this.bucket(job.finishedAt ?? this.clock.now())[job.state]++;
  }

  onNode(node: NodeView): void {
    if (!node.health || node.lastSeenAt === undefined) return;
    let ring = this.health.get(node.name);
    if (!ring) {
      ring = [];
      this.health.set(node.name, ring);
    }
    const last = ring[ring.length - 1];
    if (last && node.lastSeenAt - last.t < this.sampleEveryMs) return;
    ring.push(healthSample(node.lastSeenAt, node.health));
    if (ring.length > this.samplesPerNode) ring.splice(0, ring.length - this.samplesPerNode);
  }

  private push(item: FeedItem): void {
    this.feed.push(item);
    if (this.feed.length > this.feedSize) this.feed.splice(0, this.feed.length - this.feedSize);
  }

  private bucket(at: number): MinuteCount {
    const t = Math.floor(at / MINUTE) * MINUTE;
    const last = this.counts[this.counts.length - 1];
    if (last && last.t === t) return last;
    const c: MinuteCount = { t, succeeded: 0, failed: 0, cancelled: 0 };
    if (last && t < last.t) {
      // A late report of an earlier finish: count it in its own minute, kept in order.
      const found = this.counts.find((x) => x.t === t);
      if (found) return found;
      const at = this.counts.findIndex((x) => x.t > t);
      this.counts.splice(at, 0, c);
    } else {
      this.counts.push(c);
    }
    if (this.counts.length > this.minutes) this.counts.splice(0, this.counts.length - this.minutes);
    return c;
  }

  /** Per-minute counts for the last `minutes` minutes, oldest first, gaps filled with zeros. */
  throughput(): MinuteCount[] {
    const end = Math.floor(this.clock.now() / MINUTE) * MINUTE;
    const byT = new Map(this.counts.map((c) => [c.t, c]));
    const out: MinuteCount[] = [];
    for (let i = this.minutes - 1; i >= 0; i--) {
      const t = end - i * MINUTE;
      const c = byT.get(t);
      out.push(c ? { ...c } : { t, succeeded: 0, failed: 0, cancelled: 0 });
    }
    return out;
  }

  healthOf(node: string): HealthSample[] {
    return [...(this.health.get(node) ?? [])];
  }

  recentEvents(limit = 50): FeedItem[] {
    return this.feed.slice(-limit).reverse();
  }

  detach(): void {
    for (const f of this.off.splice(0)) f();
  }
}
