/** Errors of the master's own services outside the domain (the browser shell broker). Each has its own stable code. */
import { PiclusterError } from '../common/errors.ts';

export class ShellUnavailableError extends PiclusterError {
  readonly code = 'SHELL_UNAVAILABLE';
}

/** The data disk is below `limits.minFreeDiskBytes` (dispatcher/disk-watch.ts): no new work until space returns. */
export class StorageFullError extends PiclusterError {
  readonly code = 'STORAGE_FULL';
}

/** The HTTP port could not be bound at start-up (in use, or a privileged port without the capability). */
export class ListenError extends PiclusterError {
  readonly code = 'LISTEN_FAILED';
}

export const MASTER_ERROR_CODES = ['SHELL_UNAVAILABLE', 'STORAGE_FULL', 'LISTEN_FAILED'] as const;
export type MasterErrorCode = (typeof MASTER_ERROR_CODES)[number];
