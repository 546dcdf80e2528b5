/**
 * Every error code the master can raise, mapped to its HTTP status. The code lists come from
 * each area's `errors.ts`, so a new code in a list does not compile until it has a status here;
 * `http/error-codes.test.ts` also scans the sources for any `code = '…'` missing from this map
 * and for two classes sharing one code.
 */
import { POWER_ERROR_CODES } from './power/errors.ts';
import { DOMAIN_ERROR_CODES } from './domain/errors.ts';
import { MASTER_ERROR_CODES } from './errors.ts';
import { FILES_ERROR_CODES } from './files/errors.ts';
import { HTTP_ERROR_CODES } from './http/errors.ts';
import { LIFECYCLE_ERROR_CODES } from './lifecycle/errors.ts';
import { STORE_ERROR_CODES } from './store/errors.ts';

/** Codes of errors declared outside a code list: common/ (ValidationError, ConfigFileError), inventory/, the master's start-up checks. */
const OTHER_ERROR_CODES = [
  'VALIDATION_FAILED',
  'CONFIG_FILE',
  'INVENTORY_FILE',
  'BOOT_FILES_MISSING',
  // TLS: a bad certificate or key file (tls-server.ts), a client refusing the master (common/tls-pin.ts)
  'TLS_CONFIG',
  'TLS_TRUST',
  'TLS_PIN_MISMATCH',
] as const;

export const ERROR_CODES = [
  ...OTHER_ERROR_CODES,
  ...HTTP_ERROR_CODES,
  ...DOMAIN_ERROR_CODES,
  ...LIFECYCLE_ERROR_CODES,
  ...MASTER_ERROR_CODES,
  ...POWER_ERROR_CODES,
  ...STORE_ERROR_CODES,
  ...FILES_ERROR_CODES,
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  CONFIG_FILE: 500,
  INVENTORY_FILE: 500,
  BOOT_FILES_MISSING: 500,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  NODE_NOT_FOUND: 404,
  JOB_FINISHED: 409,
  ILLEGAL_TRANSITION: 409,
  NODE_EXISTS: 409,
  POWER_NOT_CONFIGURED: 409,
  POWER_BUSY: 409,
  AGENT_NOT_CONNECTED: 409,
  SHELL_UNAVAILABLE: 409,
  // A power device that fails is an upstream failure (502/504); a driver that cannot do the
  // action or a broken power config is a conflict with how the node is set up (409).
  POWER_UNREACHABLE: 502,
  POWER_REFUSED: 502,
  POWER_VERIFY_FAILED: 502,
  POWER_TIMEOUT: 504,
  POWER_UNSUPPORTED: 409,
  POWER_BAD_CONFIG: 409,
  STORE: 500,
  STORAGE_FULL: 507,
  LISTEN_FAILED: 500,
  TLS_CONFIG: 500,
  TLS_TRUST: 502,
  TLS_PIN_MISMATCH: 502,
  FILE_NOT_FOUND: 404,
  FILE_HASH_MISMATCH: 400,
  FILE_TOO_LARGE: 413,
};

export function statusOf(code: string): number | undefined {
  return (ERROR_STATUS as Record<string, number>)[code];
}
