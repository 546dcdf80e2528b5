/** `POST /api/admin/prune` (admin): prunes finished jobs and history now (dispatcher/retention.ts). */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Retention } from '../retention.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { PruneReport, ref } from './api-schemas.ts';
import { ErrorResponses } from './schemas.ts';

const PruneBody = Type.Object(
  {
    /** Jobs that finished more than this many days ago (default store.jobHistoryDays); 0 prunes every finished job. */
    olderThanDays: Type.Optional(Type.Number({ minimum: 0, maximum: 100_000 })),
  },
  { additionalProperties: false },
);

export function registerRetentionRoutes(fastify: FastifyInstance, retention: Retention, auth: AuthSettings): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post(
    '/api/admin/prune',
    {
      onRequest: requireRole('admin', auth),
      schema: {
        tags: ['admin'],
        summary:
          'Delete finished jobs (with attempts, output, artifacts) older than store.jobHistoryDays, and old history, now; in batches between which dispatch goes on',
        body: Type.Optional(PruneBody),
        response: { 200: ref(PruneReport), ...ErrorResponses },
      },
    },
    async (req) => retention.prune(req.body?.olderThanDays),
  );
}
