/**
 * Recent history for the UI and `GET /api/monitoring/export`: a bounded ring buffer of samples
 * (one per `sampleIntervalMs`, a minute by default; 1440 = a day kept). Counter values are read
 * from the app's prom-client registry, so the JSON summary and `/metrics` never disagree.
 * Prometheus is the long-term store; this is what a master without one can still show.
 */
import type { Registry } from 'prom-client';
import type { Clock } from '../common/clock.ts';
import type { Dispatcher } from './dispatcher.ts';
import { decodeThrottled, type ThrottleFlag } from './domain/health.ts';
import type { JobState } from './domain/jobs.ts';

export interface NodeSample {
  readonly node: string;
  readonly state: string;
  readonly up: boolean;
  readonly slots: number;
  readonly busy: number;
  readonly temperatureC?: number;
  readonly cpuPercent?: number;
  readonly load1?: number;
  readonly memAvailableMb?: number;
  readonly throttled?: number;
  readonly heartbeatAgeS?: number;
  readonly placement: string;
  readonly derate: number;
}

/** Counter increases since the previous sample (first sample: since the master started). */
export interface Deltas {
  readonly submitted: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly retried: number;
  readonly timedOut: number;
  readonly attemptsFailed: number;
}

export interface ClusterSample {
  readonly at: number;
  readonly nodesTotal: number;
  readonly nodesConnected: number;
  readonly nodesDerated: number;
  readonly nodesSkipped: number;
  readonly slotsTotal: number;
  readonly slotsBusy: number;
  readonly jobs: Readonly<Record<JobState, number>>;
  readonly queueReady: number;
  readonly queueDelayed: number;
  readonly maxTemperatureC?: number;
  readonly deltas: Deltas;
  /** Estimated from the histogram since the master started (seconds). */
  readonly dispatchLatencyP95S?: number;
}

export interface Sample {
  readonly cluster: ClusterSample;
  readonly nodes: readonly NodeSample[];
}

export interface HistoryOptions {
  readonly clock: Clock;
  readonly capacity?: number;
}

type Values = { value: number; labels: Record<string, string | number>; metricName?: string }[];

async function values(registry: Registry, name: string): Promise<Values> {
  const m = registry.getSingleMetric(name);
  if (!m) return [];
  return ((await m.get()) as { values: Values }).values;
}

async function total(registry: Registry, name: string, match: Record<string, string | RegExp> = {}): Promise<number> {
  let sum = 0;
  for (const v of await values(registry, name)) {
    if (Object.entries(match).every(([k, want]) => (typeof want === 'string' ? v.labels[k] === want : want.test(String(v.labels[k]))))) sum += v.value;
  }
  return sum;
}

/** histogram_quantile over prom-client's cumulative buckets (linear inside the bucket, as Prometheus does). */
export async function histogramQuantile(registry: Registry, name: string, q: number): Promise<number | undefined> {
  const buckets = new Map<number, number>();
  for (const v of await values(registry, name)) {
    if (v.metricName !== `${name}_bucket`) continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const count = sorted.at(-1)?.[1] ?? 0;
  if (count === 0) return undefined;
  const rank = q * count;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of sorted) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1, c - prevCount));
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

const FAILED_ATTEMPT = /^(failed|timed-out|rejected|node-lost|abandoned)$/;

export class MonitoringHistory {
  private readonly ring: Sample[] = [];
  private readonly capacity: number;
  private last: Record<keyof Deltas, number> | undefined;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly registry: Registry,
    private readonly options: HistoryOptions,
  ) {
    this.capacity = Math.max(1, options.capacity ?? 1440);
  }

  private async totals(): Promise<Record<keyof Deltas, number>> {
    const r = this.registry;
    return {
      submitted: await total(r, 'picluster_jobs_submitted_total'),
      succeeded: await total(r, 'picluster_jobs_finished_total', { state: 'succeeded' }),
      failed: await total(r, 'picluster_jobs_finished_total', { state: 'failed' }),
      cancelled: await total(r, 'picluster_jobs_finished_total', { state: 'cancelled' }),
      retried: await total(r, 'picluster_job_retries_total'),
      timedOut: await total(r, 'picluster_job_attempts_total', { outcome: 'timed-out' }),
      attemptsFailed: await total(r, 'picluster_job_attempts_total', { outcome: FAILED_ATTEMPT }),
    };
  }

  /** The cluster as it is now; `deltas` since the last stored sample. Does not store it. */
  async snapshot(): Promise<Sample & { totals: Record<keyof Deltas, number> }> {
    const at = this.options.clock.now();
    const d = this.dispatcher;
    const o = await d.overview();
    const nodes: NodeSample[] = d.listNodes().map((n) => {
      const p = d.nodePlacement(n.name);
      const h = n.health;
      return {
        node: n.name,
        state: n.state,
        up: n.connected,
        slots: n.slots,
        busy: n.running,
        ...(h?.temperatureC !== undefined ? { temperatureC: h.temperatureC } : {}),
        ...(h?.cpuPercent !== undefined ? { cpuPercent: h.cpuPercent } : {}),
        ...(h?.load1 !== undefined ? { load1: h.load1 } : {}),
        ...(h?.memAvailableMb !== undefined ? { memAvailableMb: h.memAvailableMb } : {}),
        ...(h?.throttled !== undefined ? { throttled: h.throttled } : {}),
        ...(n.lastSeenAt !== undefined ? { heartbeatAgeS: Math.max(0, Math.round((at - n.lastSeenAt) / 100) / 10) } : {}),
        placement: p.status,
        derate: p.derate,
      };
    });
    const totals = await this.totals();
    const prev = this.last;
    const deltas = Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Math.max(0, v - (prev?.[k as keyof Deltas] ?? 0))])) as unknown as Deltas;
    const temps = nodes.map((n) => n.temperatureC).filter((t): t is number => t !== undefined);
    const p95 = await histogramQuantile(this.registry, 'picluster_dispatch_latency_seconds', 0.95);
    const cluster: ClusterSample = {
      at,
      nodesTotal: o.nodes.total,
      nodesConnected: o.nodes.connected,
      nodesDerated: nodes.filter((n) => n.placement === 'derated').length,
      nodesSkipped: nodes.filter((n) => n.placement === 'skipped').length,
      slotsTotal: o.slots.total,
      slotsBusy: o.slots.busy,
      jobs: o.jobs,
      queueReady: o.queue.ready,
      queueDelayed: o.queue.delayed,
      ...(temps.length ? { maxTemperatureC: Math.max(...temps) } : {}),
      deltas,
      ...(p95 !== undefined ? { dispatchLatencyP95S: Math.round(p95 * 1e6) / 1e6 } : {}),
    };
    return { cluster, nodes, totals };
  }

  /** Takes a sample and stores it (the oldest is dropped past capacity). */
  async sample(): Promise<Sample> {
    const { totals, ...sample } = await this.snapshot();
    this.last = totals;
    this.ring.push(sample);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    return sample;
  }

  samples(since?: number): readonly Sample[] {
    return since === undefined ? [...this.ring] : this.ring.filter((s) => s.cluster.at >= since);
  }

  get size(): number {
    return this.ring.length;
  }
}

const CLUSTER_COLUMNS = [
  'at',
  'time',
  'nodesTotal',
  'nodesConnected',
  'nodesDerated',
  'nodesSkipped',
  'slotsTotal',
  'slotsBusy',
  'jobsQueued',
  'jobsRunning',
  'jobsSucceeded',
  'jobsFailed',
  'jobsCancelled',
  'queueReady',
  'queueDelayed',
  'maxTemperatureC',
  'submitted',
  'succeeded',
  'failed',
  'cancelled',
  'retried',
  'timedOut',
  'attemptsFailed',
  'dispatchLatencyP95S',
] as const;

const NODE_COLUMNS = [
  'at',
  'time',
  'node',
  'state',
  'up',
  'slots',
  'busy',
  'temperatureC',
  'cpuPercent',
  'load1',
  'memAvailableMb',
  'throttled',
  'underVoltageNow',
  'throttledNow',
  'heartbeatAgeS',
  'placement',
  'derate',
] as const;

export function clusterRows(samples: readonly Sample[]): Record<(typeof CLUSTER_COLUMNS)[number], string | number | undefined>[] {
  return samples.map(({ cluster: c }) => ({
    at: c.at,
    time: new Date(c.at).toISOString(),
    nodesTotal: c.nodesTotal,
    nodesConnected: c.nodesConnected,
    nodesDerated: c.nodesDerated,
    nodesSkipped: c.nodesSkipped,
    slotsTotal: c.slotsTotal,
    slotsBusy: c.slotsBusy,
    jobsQueued: c.jobs.queued,
    jobsRunning: c.jobs.running,
    jobsSucceeded: c.jobs.succeeded,
    jobsFailed: c.jobs.failed,
    jobsCancelled: c.jobs.cancelled,
    queueReady: c.queueReady,
    queueDelayed: c.queueDelayed,
    maxTemperatureC: c.maxTemperatureC,
    ...c.deltas,
    dispatchLatencyP95S: c.dispatchLatencyP95S,
  }));
}

export function nodeRows(samples: readonly Sample[], node?: string): Record<(typeof NODE_COLUMNS)[number], string | number | boolean | undefined>[] {
  return samples.flatMap((s) =>
    s.nodes
      .filter((n) => node === undefined || n.node === node)
      .map((n) => {
        const flags: Partial<Record<ThrottleFlag, boolean>> = n.throttled === undefined ? {} : decodeThrottled(n.throttled);
        return {
          at: s.cluster.at,
          time: new Date(s.cluster.at).toISOString(),
          node: n.node,
          state: n.state,
          up: n.up,
          slots: n.slots,
          busy: n.busy,
          temperatureC: n.temperatureC,
          cpuPercent: n.cpuPercent,
          load1: n.load1,
          memAvailableMb: n.memAvailableMb,
          throttled: n.throttled === undefined ? undefined : `0x${n.throttled.toString(16)}`,
          underVoltageNow: flags.under_voltage_now,
          throttledNow: n.throttled === undefined ? undefined : (n.throttled & 0xe) !== 0,
          heartbeatAgeS: n.heartbeatAgeS,
          placement: n.placement,
          derate: n.derate,
        };
      }),
  );
}

/** RFC 4180 CSV: a header row, CRLF line ends, fields quoted when they hold `,`, `"` or line breaks. */
export function toCsv(columns: readonly string[], rows: readonly Record<string, unknown>[]): string {
  const field = (v: unknown): string => {
    if (v === undefined || v === null) return '';
    const s = String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((c) => field(r[c])).join(','))].join('\r\n') + '\r\n';
}

export { CLUSTER_COLUMNS, NODE_COLUMNS };
