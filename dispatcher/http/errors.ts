/** Errors of the transports (auth, unknown routes). Each has its own stable code. */
import { PiclusterError } from '../../common/errors.ts';

export class UnauthorizedError extends PiclusterError {
  readonly code = 'UNAUTHORIZED';
}

export class ForbiddenError extends PiclusterError {
  readonly code = 'FORBIDDEN';
}

/** `NOT_FOUND` is the not-found handler's code for a route that does not exist (no class: fastify raises it). */
export const HTTP_ERROR_CODES = ['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND'] as const;
export type HttpErrorCode = (typeof HTTP_ERROR_CODES)[number];
