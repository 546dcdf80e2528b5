/**
 * Job artifacts: agents upload what a job wrote under $PICLUSTER_OUT to `POST /api/artifacts`
 * (their node token; content-addressed, hash-checked) before sending the attempt's result, which
 * lists them. The list is committed with the attempt's end, so a stale or duplicate result's
 * artifacts are never listed. `GET /api/jobs/:id/artifacts` lists those of the job's last
 * attempt, `GET /api/jobs/:id/artifacts/<name>` serves one.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Dispatcher } from '../dispatcher.ts';
import type { BlobStore } from '../files/blob-store.ts';
import { FileNotFoundError } from '../files/errors.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { adminOrNode, registerUpload } from './routes-files.ts';
import { ErrorResponses, JobIdParams } from './schemas.ts';

export interface ArtifactsOptions {
  readonly blobs: BlobStore;
  /** Largest accepted artifact (config `files.maxArtifactBytes`). */
  readonly maxArtifactBytes: number;
  readonly nodeTokenValid: (node: string, token: string) => boolean;
}

export const ArtifactList = Type.Object(
  {
    jobId: Type.Integer(),
    attemptId: Type.Optional(Type.Integer()),
    artifacts: Type.Array(Type.Object({ name: Type.String(), sha256: Type.String(), sizeBytes: Type.Integer() })),
    note: Type.Optional(Type.String()),
  },
  { $id: 'ArtifactList' },
);

async function artifactsOf(dispatcher: Dispatcher, id: number) {
  const job = await dispatcher.getJobWithAttempts(id);
  const last = job.attemptList.find((a) => a.id === job.lastAttemptId);
  const r = last?.result;
  return {
    jobId: id,
    ...(last ? { attemptId: last.id } : {}),
    artifacts: (r?.artifacts ?? []).map((a) => ({ ...a })),
    ...(r?.artifactsNote ? { note: r.artifactsNote } : {}),
  };
}

export function registerArtifactRoutes(fastify: FastifyInstance, dispatcher: Dispatcher, auth: AuthSettings, o: ArtifactsOptions): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const viewer = requireRole('viewer', auth);

  registerUpload(fastify, {
    path: '/api/artifacts',
    onRequest: adminOrNode(auth, o),
    blobs: o.blobs,
    maxBytes: o.maxArtifactBytes,
    limitName: 'files.maxArtifactBytes',
    summary: "An agent uploads an artifact's bytes (node token + x-picluster-node) before the result that lists it",
  });

  app.get(
    '/api/jobs/:id/artifacts',
    {
      onRequest: viewer,
      schema: {
        tags: ['jobs'],
        summary: "The files the job's last attempt wrote under $PICLUSTER_OUT",
        params: JobIdParams,
        response: { 200: Type.Unsafe<Awaited<ReturnType<typeof artifactsOf>>>(Type.Ref('ArtifactList')), ...ErrorResponses },
      },
    },
    async (req) => artifactsOf(dispatcher, req.params.id),
  );

  // Untyped instance: the answer is a byte stream.
  fastify.get(
    '/api/jobs/:id/artifacts/*',
    { onRequest: viewer, schema: { tags: ['jobs'], summary: 'One artifact of the job (its name may contain /)', response: { ...ErrorResponses } } },
    async (req, reply) => {
      const params = req.params as { id: string; '*': string };
      const id = Number(params.id);
      const name = params['*'];
      const list = Number.isSafeInteger(id) && id > 0 ? await artifactsOf(dispatcher, id) : undefined;
      const a = list?.artifacts.find((x) => x.name === name);
      if (!a) throw new FileNotFoundError(`job ${params.id} has no artifact named ${JSON.stringify(name)}`);
      const { info, stream } = o.blobs.open(a.sha256);
      reply.header('content-type', 'application/octet-stream');
      reply.header('content-length', String(info.sizeBytes));
      reply.header('x-picluster-sha256', info.sha256);
      reply.header('content-disposition', `attachment; filename="${(name.split('/').pop() ?? 'artifact').replace(/"/g, '')}"`);
      return reply.send(stream);
    },
  );
}
