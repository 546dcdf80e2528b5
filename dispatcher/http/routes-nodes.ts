import type { FastifyInstance } from 'fastify';
import type { Dispatcher } from '../dispatcher.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { BootDiagnosisSchema } from '../../doctor/boot/schema.ts';
import { BootEventQuery, LimitQuery, NodeNameParams, NodePatchBody } from './schemas.ts';

export function registerNodeRoutes(app: FastifyInstance, dispatcher: Dispatcher, auth: AuthSettings): void {
  const admin = requireRole('admin', auth);
  const viewer = requireRole('viewer', auth);

  app.get('/api/nodes', { onRequest: viewer, schema: { tags: ['nodes'], summary: 'Every node with state, slots, health and counters' } }, async () =>
    dispatcher.listNodes(),
  );

  app.get(
    '/api/nodes/:name',
    { onRequest: viewer, schema: { tags: ['nodes'], summary: 'One node and the attempts running on it', params: NodeNameParams } },
    async (req) => {
      const { name } = req.params as { name: string };
      return { ...dispatcher.getNode(name), runningAttempts: dispatcher.runningOn(name) };
    },
  );

  app.patch(
    '/api/nodes/:name',
    { onRequest: admin, schema: { tags: ['nodes'], summary: 'Change slots and labels', params: NodeNameParams, body: NodePatchBody } },
    async (req) => {
      const { name } = req.params as { name: string };
      return dispatcher.patchNode(name, req.body as { slots?: number; labels?: Record<string, string> }, 'admin');
    },
  );

  app.get(
    '/api/nodes/:name/events',
    { onRequest: viewer, schema: { tags: ['nodes'], summary: 'Node events, newest first', params: NodeNameParams, querystring: LimitQuery } },
    async (req) => {
      const { name } = req.params as { name: string };
      const { limit } = req.query as { limit?: number };
      return dispatcher.nodeEvents(name, limit);
    },
  );

  app.get(
    '/api/nodes/:name/boot-doctor',
    {
      preHandler: viewer,
      schema: {
        tags: ['netboot'],
        summary: "The boot doctor: the node's latest boot attempt matched against known netboot failures, each with a fix",
        params: NodeNameParams,
        response: { 200: BootDiagnosisSchema },
      },
    },
    async (req) => dispatcher.bootDiagnosis((req.params as { name: string }).name),
  );

  app.get(
    '/api/boot-events',
    { onRequest: viewer, schema: { tags: ['netboot'], summary: 'Boot timeline events (DHCP, TFTP, agent hello), newest first', querystring: BootEventQuery } },
    async (req) => {
      return dispatcher.bootEvents(req.query as { node?: string; mac?: string; serial?: string; limit?: number });
    },
  );
}
