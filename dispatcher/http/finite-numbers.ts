/**
 * Schema validation (ajv, with type coercion) lets `Infinity` through where a number is expected:
 * `?limit=Infinity` coerces to `Infinity`, which passes `maximum` and then fails the response
 * serialiser (a 500), and JSON bodies can carry `1e400`. This preHandler hook, run after
 * validation, refuses any non-finite number in the query, path parameters or body with a 400
 * naming the field. Found by `npm run fuzz` (live-rest: `GET /api/jobs?limit=Infinity → 500`).
 *
 * Only what a parser produced is walked: plain objects and arrays. A raw-body route's body is the
 * request stream itself (`POST /api/files`), whose object graph (socket, server, parser …) is
 * huge and cyclic — walking it spun the master at 100 % CPU on every upload.
 */
import type { FastifyInstance } from 'fastify';

/** The path of the first non-finite number in `v` (depth-limited), or undefined. */
export function firstNonFinite(v: unknown, path = '', depth = 0): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : path;
  if (depth > 64 || typeof v !== 'object' || v === null) return undefined;
  // Plain objects, null-prototype ones, and fast-querystring's (a prototype whose own prototype is null).
  const proto = Object.getPrototypeOf(v) as object | null;
  if (!Array.isArray(v) && proto !== Object.prototype && proto !== null && Object.getPrototypeOf(proto) !== null) return undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = firstNonFinite(v[i], `${path}[${i}]`, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  for (const [k, x] of Object.entries(v)) {
    const p = firstNonFinite(x, path ? `${path}.${k}` : k, depth + 1);
    if (p !== undefined) return p;
  }
  return undefined;
}

export function installFiniteNumbers(app: FastifyInstance): void {
  app.addHook('preHandler', async (req, reply) => {
    for (const [where, value] of [
      ['querystring', req.query],
      ['params', req.params],
      ['body', req.body],
    ] as const) {
      const field = firstNonFinite(value);
      if (field === undefined) continue;
      return reply.status(400).send({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        error: 'Bad Request',
        message: `${where}.${field}: must be a finite number`,
        field: field || where,
      });
    }
  });
}
