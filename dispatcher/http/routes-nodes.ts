import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Dispatcher } from '../dispatcher.ts';
import { BootEventList, NodeDetail, NodeEventList, NodeList, NodeView, ref } from './api-schemas.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { BootDiagnosisSchema } from '../../doctor/boot/schema.ts';
import { BootEventQuery, ErrorResponses, LimitQuery, NodeNameParams, NodePatchBody } from './schemas.ts';

export function registerNodeRoutes(fastify: FastifyInstance, dispatcher: Dispatcher, auth: AuthSettings): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const admin = requireRole('admin', auth);
  const viewer = requireRole('viewer', auth);

  app.get(
    '/api/nodes',
    {
      onRequest: viewer,
      schema: { tags: ['nodes'], summary: 'Every node with state, slots, health and counters', response: { 200: ref(NodeList), ...ErrorResponses } },
    },
    async () => dispatcher.listNodes(),
  );

  app.get(
    '/api/nodes/:name',
    {
      onRequest: viewer,
      schema: {
        tags: ['nodes'],
        summary: 'One node and the attempts running on it',
        params: NodeNameParams,
        response: { 200: ref(NodeDetail), ...ErrorResponses },
      },
    },
    async (req) => {
      const { name } = req.params;
      return { ...dispatcher.getNode(name), runningAttempts: dispatcher.runningOn(name) };
    },
  );

  app.patch(
    '/api/nodes/:name',
    {
      onRequest: admin,
      schema: {
        tags: ['nodes'],
        summary: 'Change slots and labels',
        params: NodeNameParams,
        body: NodePatchBody,
        response: { 200: ref(NodeView), ...ErrorResponses },
      },
    },
    async (req) => dispatcher.patchNode(req.params.name, req.body, 'admin'),
  );

  app.get(
    '/api/nodes/:name/events',
    {
      onRequest: viewer,
      schema: {
        tags: ['nodes'],
        summary: 'Node events, newest first',
        params: NodeNameParams,
        querystring: LimitQuery,
        response: { 200: ref(NodeEventList), ...ErrorResponses },
      },
    },
    async (req) => dispatcher.nodeEvents(req.params.name, req.query.limit),
  );

  app.get(
    '/api/nodes/:name/boot-doctor',
    {
      preHandler: viewer,
      schema: {
        tags: ['netboot'],
        summary: "The boot doctor: the node's latest boot attempt matched against known netboot failures, each with a fix",
        params: NodeNameParams,
        response: { 200: BootDiagnosisSchema, ...ErrorResponses },
      },
    },
    async (req) => dispatcher.bootDiagnosis(req.params.name),
  );

  app.get(
    '/api/boot-events',
    {
      onRequest: viewer,
      schema: {
        tags: ['netboot'],
        summary: 'Boot timeline events (DHCP, TFTP, agent hello), newest first',
        querystring: BootEventQuery,
        response: { 200: ref(BootEventList), ...ErrorResponses },
      },
    },
    async (req) => dispatcher.bootEvents(req.query),
  );
}
