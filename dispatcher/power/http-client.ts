/**
 * One HTTP request for the http drivers: injected `fetch`, a timeout, Basic/Bearer auth, and HTTP
 * Digest (RFC 7616, MD5 or SHA-256, qop=auth) answered on a 401 challenge, as Shelly Gen2 devices
 * with a password require. Errors are PowerErrors whose messages carry the URL with secrets redacted.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DriverContext } from './driver.ts';
import { PowerError, PowerTimeoutError, PowerUnreachableError } from './errors.ts';
import { redactUrl } from './redact.ts';

export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  /** Answer a Digest challenge with these credentials. */
  readonly digest?: { readonly user: string; readonly password: string };
}

export interface HttpResponse {
  readonly status: number;
  readonly text: string;
}

export async function httpRequest(ctx: DriverContext, req: HttpRequest): Promise<HttpResponse> {
  const first = await send(ctx, req, undefined);
  if (first.status !== 401 || !req.digest) return first;
  const challenge = first.challenge;
  if (!challenge || !/^digest\s/i.test(challenge)) return first;
  return send(ctx, req, digestAuthorization(challenge, req.method, new URL(req.url), req.digest));
}

async function send(ctx: DriverContext, req: HttpRequest, authorization: string | undefined): Promise<HttpResponse & { challenge: string | null }> {
  const where = `${req.method} ${redactUrl(req.url)}`;
  try {
    const res = await ctx.fetch(req.url, {
      method: req.method,
      headers: { ...req.headers, ...(authorization ? { authorization } : {}) },
      ...(req.body !== undefined ? { body: req.body } : {}),
      signal: AbortSignal.timeout(req.timeoutMs),
      redirect: 'manual',
    });
    const text = await res.text();
    return { status: res.status, text, challenge: res.headers.get('www-authenticate') };
  } catch (e) {
    if (e instanceof PowerError) throw e;
    const name = (e as Error)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new PowerTimeoutError(`${where}: no answer within ${req.timeoutMs} ms`, { cause: e });
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new PowerUnreachableError(`${where}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, { cause: e });
  }
}

function parseChallenge(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of header.replace(/^digest\s+/i, '').matchAll(/([a-z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/gi)) out[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}

/** The `Authorization: Digest ...` value answering `challenge` (exported for the test server). */
export function digestAuthorization(
  challenge: string,
  method: string,
  url: URL,
  cred: { user: string; password: string },
  cnonce = randomBytes(8).toString('hex'),
): string {
  const c = parseChallenge(challenge);
  const algorithm = (c['algorithm'] ?? 'MD5').toUpperCase();
  const hash = (s: string) =>
    createHash(algorithm.startsWith('SHA-256') ? 'sha256' : 'md5')
      .update(s)
      .digest('hex');
  const uri = url.pathname + url.search;
  const nc = '00000001';
  const ha1 = hash(`${cred.user}:${c['realm'] ?? ''}:${cred.password}`);
  const ha2 = hash(`${method}:${uri}`);
  const qop = c['qop']
    ?.split(',')
    .map((q) => q.trim())
    .includes('auth')
    ? 'auth'
    : undefined;
  const response = qop ? hash(`${ha1}:${c['nonce']}:${nc}:${cnonce}:${qop}:${ha2}`) : hash(`${ha1}:${c['nonce']}:${ha2}`);
  const parts = [
    `username="${cred.user}"`,
    `realm="${c['realm'] ?? ''}"`,
    `nonce="${c['nonce'] ?? ''}"`,
    `uri="${uri}"`,
    `algorithm=${algorithm}`,
    `response="${response}"`,
    ...(qop ? [`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`] : []),
    ...(c['opaque'] !== undefined ? [`opaque="${c['opaque']}"`] : []),
  ];
  return `Digest ${parts.join(', ')}`;
}

/** Parses `Digest k=v, ...` (the server side of the test). */
export function parseDigestAuthorization(header: string): Record<string, string> {
  return parseChallenge(header);
}
