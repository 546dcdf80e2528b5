/**
 * `GET /api/metrics`: a JSON summary for the UI (the same numbers `/metrics` exposes, shaped for
 * a page). `GET /api/monitoring/export?format=csv|json&scope=cluster|nodes`: the recent history
 * the master keeps in memory (a bounded ring of per-minute samples; see monitoring-history.ts).
 */
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { systemClock, type Clock } from '../../common/clock.ts';
import type { Dispatcher } from '../dispatcher.ts';
import { decodeThrottled } from '../domain/health.ts';
import { CLUSTER_COLUMNS, MonitoringHistory, NODE_COLUMNS, clusterRows, histogramQuantile, nodeRows, toCsv } from '../monitoring-history.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { ErrorResponses } from './schemas.ts';

export interface MonitoringOptions {
  /** How often a history sample is taken (default one minute). */
  readonly sampleIntervalMs?: number;
  /** Samples kept (default 1440: a day at one a minute). */
  readonly historySamples?: number;
  readonly clock?: Clock;
}

const ExportQuery = Type.Object(
  {
    format: Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }),
    scope: Type.Union([Type.Literal('cluster'), Type.Literal('nodes')], { default: 'cluster' }),
    /** Only samples taken at or after this time (ms since the epoch). */
    since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    /** scope=nodes: only this node. */
    node: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  },
  { additionalProperties: false },
);

const Quantile = Type.Union([Type.Number(), Type.Null()]);
/** The JSON summary; the per-sample parts follow monitoring-history.ts (documented there, not repeated). */
const MetricsSummary = Type.Object(
  {
    at: Type.Number(),
    cluster: Type.Unknown({ description: 'the latest cluster sample (monitoring-history.ts ClusterSample)' }),
    totals: Type.Unknown({ description: 'counter totals since the master started' }),
    latency: Type.Object({ dispatchP50S: Quantile, dispatchP95S: Quantile, jobDurationP50S: Quantile, jobDurationP95S: Quantile }),
    nodes: Type.Array(Type.Unknown({ description: 'the latest per-node sample, plus throttledFlags' })),
    history: Type.Object({ samples: Type.Integer(), sampleIntervalMs: Type.Integer() }),
  },
  { $id: 'MetricsSummary' },
);
const ExportJson = Type.Object(
  { scope: Type.Union([Type.Literal('cluster'), Type.Literal('nodes')]), sampleIntervalMs: Type.Integer(), rows: Type.Array(Type.Unknown()) },
  { $id: 'MonitoringExport' },
);

export function registerMonitoringRoutes(
  fastify: FastifyInstance,
  deps: { dispatcher: Dispatcher; registry: Registry; auth: AuthSettings },
  options: MonitoringOptions = {},
): MonitoringHistory {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = requireRole('viewer', deps.auth);
  const clock = options.clock ?? systemClock;
  const intervalMs = Math.max(10, options.sampleIntervalMs ?? 60_000);
  const history = new MonitoringHistory(deps.dispatcher, deps.registry, {
    clock,
    ...(options.historySamples !== undefined ? { capacity: options.historySamples } : {}),
  });

  let timer: NodeJS.Timeout | undefined;
  let sampling = false;
  const tick = async (): Promise<void> => {
    if (sampling) return;
    sampling = true;
    try {
      await history.sample();
    } catch (err) {
      app.log.error({ err }, 'monitoring sample failed');
    } finally {
      sampling = false;
    }
  };
  app.addHook('onReady', async () => {
    timer = setInterval(() => void tick(), intervalMs);
    timer.unref();
  });
  app.addHook('onClose', async () => {
    if (timer) clearInterval(timer);
  });

  app.get(
    '/api/metrics',
    {
      onRequest: viewer,
      schema: { tags: ['monitoring'], summary: 'Cluster and node metrics as JSON (for the UI)', response: { 200: MetricsSummary, ...ErrorResponses } },
    },
    async () => {
      const { cluster, nodes, totals } = await history.snapshot();
      const q = (name: string, p: number) => histogramQuantile(deps.registry, name, p);
      return {
        at: cluster.at,
        // deltas: increases since the last history sample
        cluster,
        totals,
        latency: {
          dispatchP50S: (await q('picluster_dispatch_latency_seconds', 0.5)) ?? null,
          dispatchP95S: (await q('picluster_dispatch_latency_seconds', 0.95)) ?? null,
          jobDurationP50S: (await q('picluster_job_duration_seconds', 0.5)) ?? null,
          jobDurationP95S: (await q('picluster_job_duration_seconds', 0.95)) ?? null,
        },
        nodes: nodes.map((n) => ({ ...n, ...(n.throttled !== undefined ? { throttledFlags: decodeThrottled(n.throttled) } : {}) })),
        history: { samples: history.size, sampleIntervalMs: intervalMs },
      };
    },
  );

  app.get(
    '/api/monitoring/export',
    {
      onRequest: viewer,
      schema: {
        tags: ['monitoring'],
        summary: 'Recent history (per-minute samples) as CSV or JSON',
        querystring: ExportQuery,
        response: {
          200: {
            content: {
              'application/json': { schema: ExportJson },
              'text/csv': { schema: Type.String({ description: 'one header line, then one line per sample' }) },
            },
          },
          ...ErrorResponses,
        },
      },
    },
    async (req, reply) => {
      const { format, scope, since, node } = req.query;
      const samples = history.samples(since);
      const rows = scope === 'cluster' ? clusterRows(samples) : nodeRows(samples, node);
      if (format === 'json') return { scope, sampleIntervalMs: intervalMs, rows };
      const stamp = new Date(clock.now()).toISOString().replace(/[:.]/g, '-');
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header('content-disposition', `attachment; filename="picluster-${scope}-${stamp}.csv"`);
      return toCsv(scope === 'cluster' ? CLUSTER_COLUMNS : NODE_COLUMNS, rows);
    },
  );
  return history;
}
