/**
 * `/boot/*`: what netbooting nodes fetch over HTTP from the master — the iPXE script of an
 * x86 node (`/boot/ipxe?mac=`), and the image files (kernels, initramfs, the two-stage
 * runtime). Read-only, confined to the image directory. Each fetch is a boot event.
 */
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { normalizeMac } from '../../common/mac.ts';
import type { Dispatcher } from '../dispatcher.ts';
import type { DispatcherNodeDirectory } from '../netboot-directory.ts';

export interface BootRoutesOptions {
  readonly root: string;
  readonly directory: DispatcherNodeDirectory;
}

/** Resolves `rel` inside `root`, refusing traversal and symlinks that leave it. */
export function confinedPath(root: string, rel: string): string | undefined {
  if (rel.includes('\0') || rel.includes('\\')) return undefined;
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    return undefined;
  }
  const candidate = resolve(realRoot, rel.replace(/^\/+/, ''));
  if (candidate !== realRoot && !candidate.startsWith(realRoot + sep)) return undefined;
  try {
    const real = realpathSync(candidate);
    if (real !== realRoot && !real.startsWith(realRoot + sep)) return undefined;
    return real;
  } catch {
    return undefined;
  }
}

export function registerBootRoutes(fastify: FastifyInstance, dispatcher: Dispatcher, o: BootRoutesOptions): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const IpxeScript = { content: { 'text/plain': { schema: Type.String({ description: 'an iPXE script' }) } } };
  app.get(
    '/boot/ipxe',
    {
      schema: {
        tags: ['netboot'],
        summary: "An x86 node's iPXE script (no auth: fetched by firmware)",
        querystring: Type.Object({ mac: Type.String({ maxLength: 32 }) }),
        response: { 200: IpxeScript, 404: IpxeScript },
      },
    },
    async (req, reply) => {
      const raw = req.query.mac;
      const mac = normalizeMac(raw);
      const script = mac ? o.directory.ipxeScript(mac) : undefined;
      dispatcher.recordBootEvent({
        kind: 'http-fetch',
        at: Date.now(),
        ...(mac ? { mac } : {}),
        ...(req.ip ? { ip: req.ip } : {}),
        outcome: script ? 'answered' : 'refused',
        ...(script ? {} : { reason: mac ? 'unknown or unapproved node, or no amd64 image' : 'bad mac' }),
        detail: { file: 'ipxe' },
      });
      reply.type('text/plain; charset=utf-8');
      if (!script)
        return reply
          .status(404)
          .send(`#!ipxe\necho picluster: no boot script for ${mac ?? raw} (unknown or unapproved node, or no amd64 image built)\nshell\n`);
      return script;
    },
  );

  app.get('/boot/*', { schema: { hide: true, params: Type.Object({ '*': Type.String() }) } }, async (req, reply) => {
    const rel = req.params['*'];
    const path = confinedPath(o.root, rel);
    const st = path ? statSync(path, { throwIfNoEntry: false }) : undefined;
    if (!path || !st?.isFile()) {
      return reply.status(404).send({ statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: `no boot file ${rel}` });
    }
    const started = Date.now();
    reply.raw.once('finish', () =>
      dispatcher.recordBootEvent({
        kind: 'http-fetch',
        at: Date.now(),
        ...(req.ip ? { ip: req.ip } : {}),
        outcome: 'complete',
        detail: { file: rel, bytes: st.size, durationMs: Date.now() - started },
      }),
    );
    reply.header('content-length', st.size).type('application/octet-stream');
    return reply.send(createReadStream(path));
  });
}
