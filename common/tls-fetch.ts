/**
 * `fetchWithTrust(trust)`: a `fetch` for https URLs that verifies the master by CA file or pin
 * (common/tls-pin.ts). Node's global fetch cannot take a custom CA or a pin per request, so
 * https requests go through node:https with `trustedConnect` and come back as a standard
 * `Response`; everything else (no trust given, http URLs) is the global fetch unchanged.
 */
import { request } from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { trustedConnect, type TlsTrust } from './tls-pin.ts';

export function fetchWithTrust(trust: TlsTrust | undefined): typeof fetch {
  if (!trust) return fetch;
  const connect = trustedConnect(trust);
  return (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    if (url.protocol !== 'https:') return fetch(input, init);
    const headers = new Headers(init.headers);
    let body: Buffer | Readable | undefined;
    if (typeof init.body === 'string') body = Buffer.from(init.body);
    else if (init.body instanceof Uint8Array) body = Buffer.from(init.body.buffer, init.body.byteOffset, init.body.byteLength);
    else if (init.body instanceof ArrayBuffer) body = Buffer.from(init.body);
    else if (init.body && typeof (init.body as ReadableStream).getReader === 'function') body = Readable.fromWeb(init.body as WebReadableStream);
    else if (init.body != null) throw new TypeError('fetchWithTrust: unsupported body type');
    if (Buffer.isBuffer(body)) headers.set('content-length', String(body.length));
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, {
        method: init.method ?? 'GET',
        headers: Object.fromEntries(headers),
        createConnection: connect as never,
        ...(init.signal ? { signal: init.signal } : {}),
      });
      req.once('error', reject);
      req.once('response', (res) => {
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
        const status = res.statusCode ?? 500;
        const nullBody = status === 204 || status === 304 || init.method === 'HEAD';
        if (nullBody) res.resume();
        resolve(new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream), { status, statusText: res.statusMessage ?? '', headers: out }));
      });
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }) as typeof fetch;
}
