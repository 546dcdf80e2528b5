/** Errors of input files and artifacts. Each has its own stable code (statuses in `../error-status.ts`). */
import { PiclusterError } from '../../common/errors.ts';

export class FileNotFoundError extends PiclusterError {
  readonly code = 'FILE_NOT_FOUND';
}

export class FileHashMismatchError extends PiclusterError {
  readonly code = 'FILE_HASH_MISMATCH';
}

export class FileTooLargeError extends PiclusterError {
  readonly code = 'FILE_TOO_LARGE';
}

export const FILES_ERROR_CODES = ['FILE_NOT_FOUND', 'FILE_HASH_MISMATCH', 'FILE_TOO_LARGE'] as const;
export type FilesErrorCode = (typeof FILES_ERROR_CODES)[number];
