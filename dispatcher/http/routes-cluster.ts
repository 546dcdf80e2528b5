import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Dispatcher } from '../dispatcher.ts';
import { ClusterHealth, MasterHealth, Overview, ref, type ApiShapes } from './api-schemas.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { ErrorResponses } from './schemas.ts';

export function registerClusterRoutes(
  fastify: FastifyInstance,
  dispatcher: Dispatcher,
  auth: AuthSettings,
  info: { version: string; storeKind: string; startedAt: number },
): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = requireRole('viewer', auth);

  app.get(
    '/health',
    { schema: { tags: ['cluster'], summary: 'Liveness of the master (no auth)', response: { 200: ref(MasterHealth) } } },
    async (): Promise<ApiShapes['MasterHealth']> => ({
      status: 'ok',
      version: info.version,
      uptimeS: Math.round((Date.now() - info.startedAt) / 1000),
    }),
  );

  app.get(
    '/api/cluster/overview',
    {
      onRequest: viewer,
      schema: { tags: ['cluster'], summary: 'Nodes by state, slots, jobs by state, queue depth', response: { 200: ref(Overview), ...ErrorResponses } },
    },
    async () => ({
      version: info.version,
      store: info.storeKind,
      ...(await dispatcher.overview()),
    }),
  );

  app.get(
    '/api/cluster/health',
    {
      onRequest: viewer,
      schema: { tags: ['cluster'], summary: 'Is the cluster able to run work, and if not why', response: { 200: ref(ClusterHealth), ...ErrorResponses } },
    },
    async () => {
      const o = await dispatcher.overview();
      const problems: string[] = [];
      if (o.nodes.connected === 0) problems.push('no agent is connected');
      const lost = (o.nodes.byState.lost ?? 0) + (o.nodes.byState.quarantined ?? 0);
      if (lost) problems.push(`${lost} node(s) lost or quarantined`);
      if (o.queue.ready > 0 && o.slots.total === 0) problems.push('jobs are waiting but no slots are available');
      const status: 'ok' | 'down' | 'degraded' = problems.length === 0 ? 'ok' : o.nodes.connected === 0 ? 'down' : 'degraded';
      return { status, problems, nodes: o.nodes, slots: o.slots, queue: o.queue };
    },
  );
}
