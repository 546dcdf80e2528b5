/**
 * The master's TLS side (`http.tls`): the PEM files read and checked at start (errors name the
 * file), re-read on SIGHUP for new connections (a bad file is logged, the old pair kept), the
 * security headers of every response, and the plain-HTTP `/boot` port that firmware, iPXE and
 * GRUB fetch from when the main port speaks TLS.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Server as HttpsServer } from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { PiclusterError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { pinOf } from '../common/tls-pin.ts';

export class TlsConfigError extends PiclusterError {
  readonly code = 'TLS_CONFIG';
}

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  /** `sha256:<hex>` of the leaf certificate (what agents pin). */
  readonly pin: string;
  readonly notAfter: string;
}

function readPem(path: string, what: string, marker: RegExp): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TlsConfigError(`${what} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  if (!marker.test(text)) throw new TlsConfigError(`${what} ${path} is not a PEM ${what.endsWith('key') ? 'private key' : 'certificate'}`);
  return text;
}

/** Reads and checks the pair: both PEM, the certificate parses, the key belongs to it. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const cert = readPem(files.cert, 'http.tls.cert', /-----BEGIN CERTIFICATE-----/);
  const key = readPem(files.key, 'http.tls.key', /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (e) {
    throw new TlsConfigError(`http.tls.cert ${files.cert}: not a valid certificate (${(e as Error).message})`, { cause: e });
  }
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new TlsConfigError(`http.tls.key ${files.key} does not go with http.tls.cert ${files.cert} (${(e as Error).message})`, { cause: e });
  }
  return { cert, key, pin: pinOf(leaf.raw), notAfter: leaf.validTo };
}

/**
 * SIGHUP → re-read the pair and apply it to new connections (open ones keep theirs). Returns
 * the remover. `onReload` sees the new material (the pin nodes are told changes with it).
 */
export function reloadOnSighup(server: HttpsServer, files: TlsFiles, log: Logger, onReload: (m: TlsMaterial) => void): () => void {
  const handler = () => {
    try {
      const m = readTlsFiles(files);
      server.setSecureContext({ cert: m.cert, key: m.key });
      onReload(m);
      log.info({ pin: m.pin, notAfter: m.notAfter }, 'tls certificate reloaded');
    } catch (e) {
      log.error({ err: e }, 'tls certificate reload failed; the previous certificate stays in use');
    }
  };
  process.on('SIGHUP', handler);
  return () => process.off('SIGHUP', handler);
}

/** swagger-ui loads its own scripts and styles from /docs/static and inlines a few styles and data: images. */
const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/** Everything else that is not the UI page (which sets its own nonce CSP): JSON, metrics, boot files. */
const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** The security headers of every response; a route's own CSP (the UI's) is kept. */
export function installSecurityHeaders(app: FastifyInstance, o: { hsts: boolean }): void {
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', req.url.startsWith('/docs') ? DOCS_CSP : DEFAULT_CSP);
    if (o.hsts) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });
}

/** With TLS on: `/boot/*` alone, plain HTTP on its own port (`http.bootPort`); everything else is a 404 there. */
export async function startBootServer(o: {
  host: string;
  port: number;
  log: Logger;
  register: (app: FastifyInstance) => void;
}): Promise<{ app: FastifyInstance; port: number }> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ loggerInstance: o.log.child({ component: 'boot-http' }, { level: 'warn' }) }) as unknown as FastifyInstance;
  installSecurityHeaders(app, { hsts: false });
  o.register(app);
  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (e) {
    await app.close().catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    throw new TlsConfigError(
      `http.bootPort ${o.host}:${o.port} (plain /boot with TLS on): ${code === 'EADDRINUSE' ? 'in use' : code === 'EACCES' ? 'needs CAP_NET_BIND_SERVICE below 1024' : (e as Error).message}`,
      { cause: e },
    );
  }
  const a = app.server.address();
  return { app, port: typeof a === 'object' && a ? a.port : o.port };
}
