/**
 * Power driver errors. Every driver action either resolves with a `PowerResult` or rejects
 * with one of these (never a bare Error: the factory wraps anything else as `PowerUnreachableError`).
 * Messages and `details` never carry secrets: the factory scrubs every configured secret value
 * out of them before they leave the driver.
 */
import { PiclusterError, type Problem } from '../../common/errors.ts';
import type { PowerAction, PowerState } from './driver.ts';

export abstract class PowerError extends PiclusterError {
  /** The driver name (`snmp-poe`, `http`, ...), when known. */
  get driver(): string | undefined {
    return this.details?.['driver'] as string | undefined;
  }
}

/** The device (or tool, or agent) could not be reached at all: no answer, connection refused, tool missing. */
export class PowerUnreachableError extends PowerError {
  readonly code = 'POWER_UNREACHABLE';
}

/** The device answered and said no: SNMP error status, HTTP 4xx/5xx, non-zero exit, QMP error, bad credentials. */
export class PowerRefusedError extends PowerError {
  readonly code = 'POWER_REFUSED';
}

/** The device accepted the action but reading the state back disagrees. `details.expected` / `details.actual`. */
export class PowerVerifyFailedError extends PowerError {
  readonly code = 'POWER_VERIFY_FAILED';
  readonly expected: PowerState;
  readonly actual: PowerState;
  constructor(message: string, options: { expected: PowerState; actual: PowerState; cause?: unknown; details?: Record<string, unknown> }) {
    super(message, { cause: options.cause, details: { ...options.details, expected: options.expected, actual: options.actual } });
    this.expected = options.expected;
    this.actual = options.actual;
  }
}

/** The driver cannot do this action (see `capabilities`), e.g. `on` for the `agent` driver. */
export class PowerUnsupportedError extends PowerError {
  readonly code = 'POWER_UNSUPPORTED';
  constructor(driver: string, action: PowerAction) {
    super(`power driver '${driver}' cannot '${action}'`, { details: { driver, action } });
  }
}

/** The power config is invalid; `problems` lists every problem at once (paths relative to the power block). */
export class PowerConfigError extends PowerError {
  readonly code = 'POWER_BAD_CONFIG';
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[], what = 'invalid power config') {
    super(`${what}: ${problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`, { details: { problems } });
    this.problems = problems;
  }
}

/** The device or tool did not answer within `timeoutMs`. */
export class PowerTimeoutError extends PowerError {
  readonly code = 'POWER_TIMEOUT';
}

export const POWER_ERROR_CODES = [
  'POWER_UNREACHABLE',
  'POWER_REFUSED',
  'POWER_VERIFY_FAILED',
  'POWER_UNSUPPORTED',
  'POWER_BAD_CONFIG',
  'POWER_TIMEOUT',
] as const;
export type PowerErrorCode = (typeof POWER_ERROR_CODES)[number];

export function isPowerError(e: unknown): e is PowerError {
  return e instanceof PowerError;
}
