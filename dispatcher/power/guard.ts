/**
 * The factory wraps every driver in this guard, so each driver only has to talk to its device:
 * - refuses actions the driver has no capability for (`PowerUnsupportedError`, no I/O);
 * - turns any non-`PowerError` rejection into `PowerUnreachableError` (with the cause kept);
 * - scrubs every configured secret out of results, error messages, details and causes;
 * - logs one line per action (info on success, warn on failure) with the outcome, never the config.
 */
import { PowerError, PowerUnreachableError, PowerUnsupportedError } from './errors.ts';
import { makeScrubber } from './redact.ts';
import type { DriverContext, PowerAction, PowerConfig, PowerDriver, PowerResult, PowerState } from './driver.ts';

export function guardDriver(inner: PowerDriver, ctx: DriverContext, config: PowerConfig): PowerDriver {
  const scrub = makeScrubber(config);
  const { name, capabilities } = inner;

  const fail = (action: PowerAction, e: unknown, startedMs: number): never => {
    const err = e instanceof PowerError ? e : new PowerUnreachableError(`${name} ${action} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    scrubError(err, scrub, name, action);
    ctx.log.warn({ action, code: err.code, err: err.message, durationMs: ctx.clock.now() - startedMs }, 'power action failed');
    throw err;
  };

  const act = (action: Exclude<PowerAction, 'status'>) => async (): Promise<PowerResult> => {
    if (!capabilities[action]) throw new PowerUnsupportedError(name, action);
    const startedMs = ctx.clock.now();
    ctx.log.debug({ action }, 'power action start');
    let result: PowerResult;
    try {
      result = await inner[action]();
    } catch (e) {
      return fail(action, e, startedMs);
    }
    const clean: PowerResult = {
      ok: result.ok,
      verified: result.verified,
      state: result.state,
      ...(result.detail !== undefined ? { detail: scrub(result.detail) } : {}),
    };
    ctx.log[clean.ok ? 'info' : 'error'](
      { action, ok: clean.ok, verified: clean.verified, state: clean.state, detail: clean.detail, durationMs: ctx.clock.now() - startedMs },
      clean.ok ? 'power action done' : 'power action needs a human',
    );
    return clean;
  };

  return {
    name,
    capabilities,
    on: act('on'),
    off: act('off'),
    cycle: act('cycle'),
    status: async (): Promise<PowerState> => {
      if (!capabilities.status) return 'unknown';
      const startedMs = ctx.clock.now();
      try {
        const state = await inner.status();
        ctx.log.debug({ action: 'status', state }, 'power status read');
        return state;
      } catch (e) {
        return fail('status', e, startedMs);
      }
    },
  };
}

function scrubError(err: PowerError, scrub: (t: string) => string, driver: string, action: PowerAction): void {
  err.message = scrub(err.message);
  if (err.stack) err.stack = scrub(err.stack);
  const details = { driver, action, ...(err.details ?? {}) };
  (err as { details: Record<string, unknown> | undefined }).details = scrubDeep(details, scrub) as Record<string, unknown>;
  let cause: unknown = err.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++, cause = cause.cause) {
    cause.message = scrub(cause.message);
    if (cause.stack) cause.stack = scrub(cause.stack);
  }
}

function scrubDeep(value: unknown, scrub: (t: string) => string): unknown {
  if (typeof value === 'string') return scrub(value);
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, scrub));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, scrub)]));
  return value;
}
