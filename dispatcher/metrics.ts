/**
 * prom-client metrics of one app instance (own Registry, never the global default).
 * Counters and histograms follow Dispatcher events; gauges are read at scrape time.
 * Labels have bounded cardinality: states, outcomes, groups and node names, never job ids.
 *
 * Families: cluster and jobs (here), per node (metrics-nodes.ts), netboot/boot/power
 * (metrics-hooks.ts), and the process metrics of the master (prom-client defaults, `picluster_`
 * prefixed). monitoring/README.md lists them all with what the alert rules do with them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerGuardMetrics } from './metrics-guard.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import type { Dispatcher } from './dispatcher.ts';
import { ATTEMPT_STATES, JOB_STATES } from './domain/jobs.ts';
import { NODE_STATES } from './domain/nodes.ts';
import { BootMetrics, declareNetbootMetrics, powerMetrics } from './metrics-hooks.ts';
import { registerNodeMetrics } from './metrics-nodes.ts';

export { powerMetrics, type PowerMetrics } from './metrics-hooks.ts';
export { storeWriteMetrics } from './metrics-guard.ts';

export interface MetricsOptions {
  /** prom-client's process/Node.js metrics (default on; tests that build many apps turn them off). */
  readonly processMetrics?: boolean;
  /** For heartbeat ages; the Dispatcher's clock. */
  readonly clock?: Clock;
  /** Exposed as `picluster_build_info{version}`. */
  readonly version?: string;
}

/** Final job states counted by `picluster_jobs_finished_total`. */
const FINAL_STATES = ['succeeded', 'failed', 'cancelled'] as const;

export function createMetrics(dispatcher: Dispatcher, registry: Registry = new Registry(), options: MetricsOptions = {}): Registry {
  if (options.processMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'picluster_' });
    // Gauges named like counters (`promtool check metrics` rejects them); the per-type
    // `picluster_nodejs_active_{handles,requests,resources}` gauges carry the same numbers.
    for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`picluster_nodejs_active_${kind}_total`);
  }
  const clock = options.clock ?? systemClock;

  if (options.version !== undefined) {
    new Gauge({ name: 'picluster_build_info', help: "The master's version (value 1)", labelNames: ['version'], registers: [registry] }).set(
      { version: options.version },
      1,
    );
  }
  new Gauge({
    name: 'picluster_jobs',
    help: 'Jobs by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await dispatcher.jobCounts();
      for (const s of JOB_STATES) this.set({ state: s }, counts[s]);
    },
  });
  new Gauge({
    name: 'picluster_queue_depth',
    help: 'Queued jobs ready to run, by group',
    labelNames: ['group'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [g, n] of dispatcher.queueDepthByGroup()) this.set({ group: g }, n);
    },
  });
  new Gauge({
    name: 'picluster_queue_delayed_jobs',
    help: 'Queued jobs waiting for their retry backoff',
    registers: [registry],
    async collect() {
      const q = (await dispatcher.overview()).queue;
      this.set(q.delayed);
    },
  });
  new Gauge({
    name: 'picluster_nodes',
    help: 'Nodes by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const by: Record<string, number> = Object.fromEntries(NODE_STATES.map((s) => [s, 0]));
      for (const n of dispatcher.listNodes()) by[n.state] = (by[n.state] ?? 0) + 1;
      for (const [s, v] of Object.entries(by)) this.set({ state: s }, v);
    },
  });
  new Gauge({
    name: 'picluster_slots',
    help: 'Job slots of connected nodes',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const o = await dispatcher.overview();
      this.set({ kind: 'total' }, o.slots.total);
      this.set({ kind: 'busy' }, o.slots.busy);
    },
  });

  const submitted = new Counter({ name: 'picluster_jobs_submitted_total', help: 'Jobs submitted', registers: [registry] });
  const completed = new Counter({
    name: 'picluster_job_attempts_total',
    help: 'Attempts ended, by outcome (succeeded, failed, timed-out, cancelled, rejected, node-lost, abandoned)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const finished = new Counter({
    name: 'picluster_jobs_finished_total',
    help: 'Jobs that reached a final state',
    labelNames: ['state'],
    registers: [registry],
  });
  const retried = new Counter({ name: 'picluster_job_retries_total', help: 'Attempts that ended in a requeue (retry or lost node)', registers: [registry] });
  const stale = new Counter({
    name: 'picluster_stale_results_total',
    help: 'Late, duplicate or foreign results dropped',
    labelNames: ['reason'],
    registers: [registry],
  });
  const heartbeats = new Counter({ name: 'picluster_heartbeats_total', help: 'Agent heartbeats received', registers: [registry] });
  const protocolErrors = new Counter({
    name: 'picluster_agent_protocol_errors_total',
    help: 'Malformed or refused agent frames',
    labelNames: ['code'],
    registers: [registry],
  });
  const stateChanges = new Counter({
    name: 'picluster_node_state_changes_total',
    help: 'Node state transitions, by the state entered',
    labelNames: ['to'],
    registers: [registry],
  });
  const quarantines = new Counter({
    name: 'picluster_node_quarantines_total',
    help: 'Times a node was quarantined (automatic recovery gave up)',
    labelNames: ['node'],
    registers: [registry],
  });
  const dispatchLatency = new Histogram({
    name: 'picluster_dispatch_latency_seconds',
    help: 'Time from a job being ready to its hand-out to a node',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'picluster_job_duration_seconds',
    help: 'Attempt run time reported by the agent',
    labelNames: ['outcome'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
    registers: [registry],
  });
  // Every fixed label value exists from the first scrape (rate() and alerts need a 0 to start from).
  for (const s of FINAL_STATES) finished.inc({ state: s }, 0);
  for (const s of ATTEMPT_STATES) if (s !== 'running') completed.inc({ outcome: s }, 0);
  for (const s of NODE_STATES) stateChanges.inc({ to: s }, 0);

  registerNodeMetrics(dispatcher, registry, clock);
  registerGuardMetrics(dispatcher, registry);
  declareNetbootMetrics(registry);
  powerMetrics(registry);
  const boots = new BootMetrics(registry);

  dispatcher.on('job', (job) => {
    if (job.state === 'queued' && job.attempts === 0) submitted.inc();
    if (job.state === 'succeeded' || job.state === 'failed' || job.state === 'cancelled') finished.inc({ state: job.state });
  });
  dispatcher.on('dispatched', (d) => dispatchLatency.observe(d.latencyMs / 1000));
  dispatcher.on('attemptEnded', (a) => {
    completed.inc({ outcome: a.state });
    duration.observe({ outcome: a.state }, a.durationMs / 1000);
    if (a.retried) retried.inc();
  });
  dispatcher.on('staleResult', (s) => stale.inc({ reason: s.reason }));
  dispatcher.on('heartbeat', () => heartbeats.inc());
  dispatcher.on('protocolError', (e) => protocolErrors.inc({ code: e.code }));
  dispatcher.on('nodeEvent', (e) => {
    if (e.kind !== 'state' || !e.to) return;
    stateChanges.inc({ to: e.to });
    if (e.to === 'quarantined') quarantines.inc({ node: e.node });
  });
  dispatcher.on('bootEvent', (e) => boots.record(e));
  return registry;
}
