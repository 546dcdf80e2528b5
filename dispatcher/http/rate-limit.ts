/**
 * Rate limits on the unauthenticated endpoints (`/boot/*`, `/health`, `/agent` upgrades): a token
 * bucket per client address (pure `RateLimiter`, injected clock), bounded to `maxClients` addresses
 * (least recently seen forgotten first, so a spoofing flood cannot grow the table). Over the limit
 * an HTTP request gets 429 with `Retry-After`; a WebSocket upgrade gets a raw 429 line and its
 * socket is destroyed before any handshake work.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { dropInput, type GuardSink } from '../guard.ts';

export interface RateLimitSettings {
  readonly perSecond: number;
  readonly burst: number;
  readonly maxClients: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly s: RateLimitSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; false when it has none left. */
  take(key: string): boolean {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      b.tokens = Math.min(this.s.burst, b.tokens + ((now - b.at) / 1000) * this.s.perSecond);
      b.at = now;
    } else {
      b = { tokens: this.s.burst, at: now };
      if (this.buckets.size >= this.s.maxClients) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** Which requests are unauthenticated by design, and so rate-limited per address. */
export function isUnauthenticatedEndpoint(req: FastifyRequest): boolean {
  const path = req.url.split('?')[0]!;
  return path.startsWith('/boot/') || path === '/health' || path === '/agent';
}

export function installRateLimit(app: FastifyInstance, settings: RateLimitSettings, sink: GuardSink, now?: () => number): RateLimiter {
  const limiter = new RateLimiter(settings, now);
  app.addHook('onRequest', async (req, reply) => {
    if (!isUnauthenticatedEndpoint(req) || limiter.take(req.ip)) return;
    dropInput(sink, 'http', 'RATE_LIMITED');
    const retryAfter = String(Math.max(1, Math.ceil(1 / settings.perSecond)));
    if (req.headers.upgrade) {
      // A refused upgrade costs nothing more: no handshake, no ws state.
      reply.hijack();
      const socket = req.raw.socket;
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${retryAfter}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, () => socket.destroy());
      return reply;
    }
    reply.header('retry-after', retryAfter);
    return reply
      .status(429)
      .send({ statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests', message: 'too many requests from this address; slow down' });
  });
  return limiter;
}
