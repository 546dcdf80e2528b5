import type { FastifyInstance } from 'fastify';
import type { Dispatcher } from '../dispatcher.ts';
import { requireRole, type AuthSettings } from './auth.ts';

export function registerClusterRoutes(
  app: FastifyInstance,
  dispatcher: Dispatcher,
  auth: AuthSettings,
  info: { version: string; storeKind: string; startedAt: number },
): void {
  const viewer = requireRole('viewer', auth);

  app.get('/health', { schema: { tags: ['cluster'], summary: 'Liveness of the master (no auth)' } }, async () => ({
    status: 'ok',
    version: info.version,
    uptimeS: Math.round((Date.now() - info.startedAt) / 1000),
  }));

  app.get(
    '/api/cluster/overview',
    { onRequest: viewer, schema: { tags: ['cluster'], summary: 'Nodes by state, slots, jobs by state, queue depth' } },
    async () => ({
      version: info.version,
      store: info.storeKind,
      ...dispatcher.overview(),
    }),
  );

  app.get('/api/cluster/health', { onRequest: viewer, schema: { tags: ['cluster'], summary: 'Is the cluster able to run work, and if not why' } }, async () => {
    const o = dispatcher.overview();
    const problems: string[] = [];
    if (o.nodes.connected === 0) problems.push('no agent is connected');
    const lost = (o.nodes.byState.lost ?? 0) + (o.nodes.byState.quarantined ?? 0);
    if (lost) problems.push(`${lost} node(s) lost or quarantined`);
    if (o.queue.ready > 0 && o.slots.total === 0) problems.push('jobs are waiting but no slots are available');
    return { status: problems.length === 0 ? 'ok' : o.nodes.connected === 0 ? 'down' : 'degraded', problems, nodes: o.nodes, slots: o.slots, queue: o.queue };
  });
}
