/** Errors of the master's own services outside the domain (the browser shell broker). Each has its own stable code. */
import { PiclusterError } from '../common/errors.ts';

export class ShellUnavailableError extends PiclusterError {
  readonly code = 'SHELL_UNAVAILABLE';
}

export const MASTER_ERROR_CODES = ['SHELL_UNAVAILABLE'] as const;
export type MasterErrorCode = (typeof MASTER_ERROR_CODES)[number];
