/** One error handler: stable codes → HTTP status; validation errors name the field. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { isPiclusterError, ValidationError } from '../../common/errors.ts';
import { statusOf } from '../error-status.ts';

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  507: 'Insufficient Storage',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
};

/** `/body/requirements/cpus` → `requirements.cpus`; `/body/3/argv` → `[3].argv`. */
export function fieldFromPath(instancePath: string): string {
  return instancePath
    .replace(/^\/(body|query|params|querystring)/, '')
    .replace(/^\//, '')
    .replace(/\/(\d+)(?=\/|$)/g, '[$1]')
    .replace(/^(\d+)/, '[$1]')
    .replace(/\//g, '.');
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError & { validationContext?: string }, req, reply) => {
    if (error.validation) {
      const v = error.validation[0]!;
      const missing = (v.params as { missingProperty?: string; additionalProperty?: string } | undefined) ?? {};
      let field = fieldFromPath(v.instancePath ?? '');
      const extra = missing.missingProperty ?? missing.additionalProperty;
      if (extra) field = field ? `${field}.${extra}` : extra;
      const where = error.validationContext ?? 'body';
      const message = `${where}${field ? `.${field}` : ''}: ${v.message ?? 'is invalid'}${missing.additionalProperty ? ' (unknown field)' : ''}`;
      return reply.status(400).send({ statusCode: 400, code: 'VALIDATION_FAILED', error: REASON[400], message, field: field || where });
    }
    if (error instanceof ValidationError) {
      const first = error.problems[0];
      return reply.status(400).send({ statusCode: 400, code: error.code, error: REASON[400], message: error.message, ...(first ? { field: first.path } : {}) });
    }
    if (isPiclusterError(error)) {
      const status = statusOf(error.code) ?? 500;
      // A full disk is a state the operator was alerted about, not a failure per request.
      if (status === 507) req.log.warn({ code: error.code }, 'request refused: storage full');
      else if (status >= 500) req.log.error({ err: error }, 'request failed');
      return reply.status(status).send({ statusCode: status, code: error.code, error: REASON[status] ?? 'Error', message: error.message });
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) req.log.error({ err: error }, 'request failed');
    return reply.status(status).send({
      statusCode: status,
      code: error.code ?? (status === 500 ? 'INTERNAL' : 'BAD_REQUEST'),
      error: REASON[status] ?? 'Error',
      message: status === 500 ? 'internal error (see the master log)' : error.message,
    });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ statusCode: 404, code: 'NOT_FOUND', error: REASON[404], message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
}
