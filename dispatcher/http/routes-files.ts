/**
 * Input files: `POST /api/files` (raw bytes, admin; hash and size checked while streaming to
 * disk), `GET /api/files/:sha256` (metadata), `GET /api/files/:sha256/content` (the bytes, for
 * agents with their node token and for admins). Content-addressed: the same bytes are stored once.
 */
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ValidationError } from '../../common/errors.ts';
import { fileNameProblem } from '../../common/protocol.ts';
import type { BlobStore } from '../files/blob-store.ts';
import { SHA256_HEX } from '../files/blob-store.ts';
import { FileNotFoundError, FileTooLargeError } from '../files/errors.ts';
import { bearer, requireRole, roleOf, type AuthSettings } from './auth.ts';
import { UnauthorizedError } from './errors.ts';
import { ErrorResponses } from './schemas.ts';

export interface FilesOptions {
  readonly blobs: BlobStore;
  /** Largest accepted upload (config `files.maxUploadBytes`). */
  readonly maxUploadBytes: number;
  /** Whether `token` is the node token of `node` (agents fetch files with theirs). */
  readonly nodeTokenValid: (node: string, token: string) => boolean;
}

export const FileInfo = Type.Object({ sha256: Type.String({ pattern: SHA256_HEX }), sizeBytes: Type.Integer({ minimum: 0 }) }, { $id: 'FileInfo' });
const ShaParams = Type.Object({ sha256: Type.String({ pattern: SHA256_HEX }) });
const UploadHeaders = Type.Object({
  'x-picluster-sha256': Type.String({ pattern: SHA256_HEX, description: 'SHA-256 of the body, lowercase hex' }),
  'x-picluster-name': Type.Optional(Type.String({ maxLength: 255, description: 'the file name (informational)' })),
});

/** onRequest: an admin/viewer bearer token, or a node token with `x-picluster-node: <name>`. */
function adminOrNode(auth: AuthSettings, o: FilesOptions) {
  const admin = requireRole('admin', auth);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const node = req.headers['x-picluster-node'];
    if (typeof node === 'string' && node) {
      const t = bearer(req);
      if (t && o.nodeTokenValid(node, t)) return;
      if (!t || roleOf(t, auth) === undefined) throw new UnauthorizedError(`the token is not node '${node}'s token`);
    }
    await admin(req, reply);
  };
}

export function registerFileRoutes(fastify: FastifyInstance, auth: AuthSettings, o: FilesOptions): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const info = Type.Unsafe<{ sha256: string; sizeBytes: number }>(Type.Ref('FileInfo'));
  const admin = requireRole('admin', auth);
  const viewer = requireRole('viewer', auth);

  void app.register(async (scope) => {
    // The body stays a stream: it goes to disk while it is hashed, never into memory whole.
    scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    scope.post(
      '/api/files',
      {
        onRequest: admin,
        bodyLimit: o.maxUploadBytes,
        preParsing: async (req) => {
          const declared = Number(req.headers['content-length']);
          if (Number.isFinite(declared) && declared > o.maxUploadBytes)
            throw new FileTooLargeError(`the upload has ${declared} bytes, more than the limit of ${o.maxUploadBytes} (files.maxUploadBytes)`);
        },
        schema: {
          tags: ['files'],
          summary: 'Upload an input file (raw body, content-type application/octet-stream); 201 new, 200 already stored',
          headers: UploadHeaders,
          response: { 200: info, 201: info, ...ErrorResponses },
        },
      },
      async (req, reply) => {
        if (!req.headers['content-type']?.startsWith('application/octet-stream'))
          throw new ValidationError('an upload is the raw file', [
            { path: 'content-type', message: 'send the bytes with content-type: application/octet-stream' },
          ]);
        const name = req.headers['x-picluster-name'];
        if (typeof name === 'string' && name && fileNameProblem(name.split('/').pop() ?? name))
          throw new ValidationError('bad file name', [{ path: 'x-picluster-name', message: fileNameProblem(name.split('/').pop() ?? name)! }]);
        const expected = String(req.headers['x-picluster-sha256']);
        const info = await o.blobs.put(req.body as Readable, {
          expected,
          maxBytes: o.maxUploadBytes,
          what: typeof name === 'string' && name ? `the upload of ${name}` : 'the upload',
        });
        reply.status(info.created ? 201 : 200);
        return { sha256: info.sha256, sizeBytes: info.sizeBytes };
      },
    );
  });

  app.get(
    '/api/files/:sha256',
    {
      onRequest: viewer,
      schema: {
        tags: ['files'],
        summary: 'An input file: 200 with its size, 404 FILE_NOT_FOUND',
        params: ShaParams,
        response: { 200: info, ...ErrorResponses },
      },
    },
    async (req) => {
      const { sha256 } = req.params;
      const info = o.blobs.stat(sha256);
      if (!info) throw new FileNotFoundError(`no file with sha256 ${sha256} on the master`);
      return info;
    },
  );

  // Untyped instance: the answer is a byte stream, not a serialised schema.
  fastify.get(
    '/api/files/:sha256/content',
    {
      onRequest: adminOrNode(auth, o),
      schema: {
        tags: ['files'],
        summary: "An input file's bytes (agents: their node token + x-picluster-node)",
        params: ShaParams,
        response: { ...ErrorResponses },
      },
    },
    async (req, reply) => {
      const { sha256 } = req.params as { sha256: string };
      const { info, stream } = o.blobs.open(sha256);
      reply.header('content-type', 'application/octet-stream');
      reply.header('content-length', String(info.sizeBytes));
      reply.header('x-picluster-sha256', info.sha256);
      return reply.send(stream);
    },
  );
}
