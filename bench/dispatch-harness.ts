/**
 * What bench:dispatch measures, the same way for every system (picluster, BullMQ): a round is
 *  1. throughput: `jobs` no-op jobs submitted in batches of 1,000, time until every one is
 *     complete (as the consumer sees it) → jobs/s, and the server's CPU over that time;
 *  2. latency: jobs submitted in batches of 10 on a fixed schedule at half of the capacity
 *     phase 1 measured (open loop), per job: dispatch = submit sent → the consumer has the job,
 *     complete = submit sent → the consumer saw its completion acknowledged; p50/p99.
 * A system is a `Sut`: submit, and a stream of completion counts and per-job samples from the
 * consumers (a worker thread; they sample every job, the harness keeps the latency phase's),
 * so the harness does not care how either system works.
 */
import { readFileSync } from 'node:fs';

export const wall = (): number => performance.timeOrigin + performance.now();

/** Per-job times the consumers saw (ms, wall clock shared by all threads). */
export interface Samples {
  readonly ids: string[];
  readonly dispatchedAt: number[];
  readonly completedAt: number[];
}

export interface Sut {
  readonly name: string;
  /** Submits `n` no-op jobs; resolves with their ids once the system has acknowledged them. */
  submit(n: number): Promise<string[]>;
  /** Completions and samples as the consumers report them. */
  onReport(cb: (completed: number, samples: Samples | undefined) => void): void;
  /** CPU seconds the serving side (the dispatcher's thread / redis-server) has used so far. */
  serverCpuSeconds(): number;
  close(): Promise<void>;
}

export interface Latency {
  readonly jobs: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}
export interface RoundResult {
  readonly system: string;
  readonly jobs: number;
  readonly seconds: number;
  readonly jobsPerSecond: number;
  readonly serverCpuPercent: number;
  readonly offeredPerSecond: number;
  readonly dispatchMs: Latency;
  readonly completeMs: Latency;
}

export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

function latency(xs: readonly number[]): Latency {
  return { jobs: xs.length, p50: r2(percentile(xs, 50)), p99: r2(percentile(xs, 99)), max: r2(xs.length ? Math.max(...xs) : NaN) };
}

/** CPU seconds (user + system) of a process, or of one thread with `tid`, from /proc (Linux). */
export function procCpuSeconds(pid: number, tid?: number, ticksPerSecond = 100): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond;
}

/** One round against one system (see the file comment). */
export async function runRound(sut: Sut, o: { jobs: number; latencyJobs: number; timeoutS: number }): Promise<RoundResult> {
  let completed = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  const samples: Samples = { ids: [], dispatchedAt: [], completedAt: [] };
  sut.onReport((n, s) => {
    completed += n;
    if (s) {
      samples.ids.push(...s.ids);
      samples.dispatchedAt.push(...s.dispatchedAt);
      samples.completedAt.push(...s.completedAt);
    }
    if (completed >= target) wake?.();
  });
  const until = (n: number, what: string): Promise<void> => {
    target = n;
    if (completed >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${sut.name}: ${what}: ${completed} of ${n} jobs completed in ${o.timeoutS} s`)), o.timeoutS * 1000);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  };

  // 1. throughput
  const cpu0 = sut.serverCpuSeconds();
  const t0 = performance.now();
  for (let sent = 0; sent < o.jobs; sent += 1000) await sut.submit(Math.min(1000, o.jobs - sent));
  await until(o.jobs, 'throughput');
  const seconds = (performance.now() - t0) / 1000;
  const cpu = sut.serverCpuSeconds() - cpu0;
  const jobsPerSecond = o.jobs / seconds;

  // 2. latency at half of that capacity, open loop: batch k leaves at t0 + k·batch/rate.
  const offered = jobsPerSecond / 2;
  const batch = 10;
  const submittedAt = new Map<string, number>();
  const pending: Promise<void>[] = [];
  const l0 = performance.now();
  for (let k = 0, sent = 0; sent < o.latencyJobs; k++, sent += batch) {
    const due = l0 + (k * batch * 1000) / offered;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const before = wall();
    pending.push(
      sut.submit(Math.min(batch, o.latencyJobs - sent)).then((ids) => {
        for (const id of ids) submittedAt.set(id, before);
      }),
    );
  }
  await Promise.all(pending);
  await until(o.jobs + o.latencyJobs, 'latency');
  // The consumers flush samples on a timer: wait until every job's sample is in.
  for (let i = 0; i < 100 && samples.ids.length < o.jobs + o.latencyJobs; i++) await new Promise((r) => setTimeout(r, 20));
  const dispatch: number[] = [];
  const complete: number[] = [];
  samples.ids.forEach((id, i) => {
    const t = submittedAt.get(id);
    if (t === undefined) return;
    dispatch.push(samples.dispatchedAt[i]! - t);
    complete.push(samples.completedAt[i]! - t);
  });
  return {
    system: sut.name,
    jobs: o.jobs,
    seconds: r2(seconds),
    jobsPerSecond: Math.round(jobsPerSecond),
    serverCpuPercent: Math.round((cpu / seconds) * 100),
    offeredPerSecond: Math.round(offered),
    dispatchMs: latency(dispatch),
    completeMs: latency(complete),
  };
}

/** The median (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Per agent count: medians over the rounds of each system, and picluster / BullMQ per round. */
export function summarize(rounds: readonly (RoundResult & { agents: number; round: number })[], agentCounts: readonly number[]) {
  return agentCounts.map((agents) => {
    const of = (system: string) => rounds.filter((r) => r.agents === agents && r.system === system).sort((a, b) => a.round - b.round);
    const sum = (rs: RoundResult[]) =>
      rs.length
        ? {
            jobsPerSecond: Math.round(median(rs.map((r) => r.jobsPerSecond))),
            serverCpuPercent: Math.round(median(rs.map((r) => r.serverCpuPercent))),
            offeredPerSecond: Math.round(median(rs.map((r) => r.offeredPerSecond))),
            dispatchP50Ms: r2(median(rs.map((r) => r.dispatchMs.p50))),
            dispatchP99Ms: r2(median(rs.map((r) => r.dispatchMs.p99))),
            completeP50Ms: r2(median(rs.map((r) => r.completeMs.p50))),
            completeP99Ms: r2(median(rs.map((r) => r.completeMs.p99))),
          }
        : undefined;
    const p = of('picluster');
    const b = of('bullmq');
    const ratios = b.length ? p.map((r, i) => r.jobsPerSecond / b[i]!.jobsPerSecond) : [];
    return {
      agents,
      picluster: sum(p),
      bullmq: sum(b),
      ratio: ratios.length ? { median: r2(median(ratios)), min: r2(Math.min(...ratios)), max: r2(Math.max(...ratios)) } : undefined,
    };
  });
}
