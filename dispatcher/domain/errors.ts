/** Errors of the domain rules (jobs, nodes, transitions). Each has its own stable code. */
import { PiclusterError } from '../../common/errors.ts';

export class JobNotFoundError extends PiclusterError {
  readonly code = 'JOB_NOT_FOUND';
  constructor(id: number | string) {
    super(`job ${id} not found`);
  }
}

export class NodeNotFoundError extends PiclusterError {
  readonly code = 'NODE_NOT_FOUND';
  constructor(name: string) {
    super(`node '${name}' not found`);
  }
}

export class IllegalTransitionError extends PiclusterError {
  readonly code = 'ILLEGAL_TRANSITION';
  constructor(what: string, from: string, to: string) {
    super(`${what} cannot go from '${from}' to '${to}'`, { details: { from, to } });
  }
}

export class JobFinishedError extends PiclusterError {
  readonly code = 'JOB_FINISHED';
  constructor(id: number, state: string) {
    super(`job ${id} has already ended (${state})`, { details: { state } });
  }
}

export class NodeExistsError extends PiclusterError {
  readonly code = 'NODE_EXISTS';
  constructor(name: string, what = 'name') {
    super(what === 'name' ? `node '${name}' already exists` : `node '${name}' already has this ${what}`);
  }
}

export const DOMAIN_ERROR_CODES = ['JOB_NOT_FOUND', 'NODE_NOT_FOUND', 'ILLEGAL_TRANSITION', 'JOB_FINISHED', 'NODE_EXISTS'] as const;
export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];
