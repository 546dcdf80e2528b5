/**
 * Bearer-token auth: `admin` may do everything, `viewer` only reads. Tokens are compared in
 * constant time. `/health` is open; `/metrics` is open unless a metrics token is set.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { safeEqual } from '../../common/tokens.ts';
import { ForbiddenError, UnauthorizedError } from './errors.ts';

export type Role = 'admin' | 'viewer';

export interface AuthSettings {
  readonly adminToken: string;
  readonly viewerToken?: string;
  readonly metricsToken?: string;
}

export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.startsWith('Bearer ')) return h.slice(7).trim();
  const q = (req.query as Record<string, unknown> | undefined)?.token;
  // Browsers cannot set headers on a WebSocket: the UI passes the token as a query parameter there.
  if (typeof q === 'string' && req.headers.upgrade === 'websocket') return q;
  return undefined;
}

export function roleOf(token: string | undefined, auth: AuthSettings): Role | undefined {
  if (!token) return undefined;
  if (safeEqual(token, auth.adminToken)) return 'admin';
  if (auth.viewerToken && safeEqual(token, auth.viewerToken)) return 'viewer';
  return undefined;
}

/** `onRequest` hook factory: requires at least `need`, before any body is read or parsed. */
export function requireRole(need: Role, auth: AuthSettings) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const role = roleOf(bearer(req), auth);
    if (!role) throw new UnauthorizedError('a bearer token is required (Authorization: Bearer <token>); the admin token is in <dataDir>/admin-token');
    if (need === 'admin' && role !== 'admin') throw new ForbiddenError('this action needs the admin token; the viewer token is read-only');
    (req as FastifyRequest & { role?: Role }).role = role;
  };
}
