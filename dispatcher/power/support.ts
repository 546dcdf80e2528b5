/**
 * Shared pieces for driver implementations: the spec type the registry holds, common config
 * keys, read-back verification, the off → wait → on cycle, running a tool, and templates.
 */
import { basename } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { Problem } from '../../common/errors.ts';
import type { DriverContext, ExecResult, PowerDriver, PowerNodeRef, PowerResult, PowerState } from './driver.ts';
import { PowerError, PowerRefusedError, PowerTimeoutError, PowerVerifyFailedError } from './errors.ts';

export interface DriverSpec<S extends TSchema = TSchema> {
  readonly name: string;
  /** Must include `driver: Type.Literal(name)` and `additionalProperties: false`. */
  readonly schema: S;
  /** For drivers with variants (`http` presets): the schema for this config (default `schema`). */
  readonly schemaFor?: (config: Record<string, unknown>) => TSchema;
  /** Cross-field checks the schema cannot express (paths relative to the power block). */
  readonly check?: (config: Static<S>) => Problem[];
  readonly create: (config: Static<S>, ctx: DriverContext) => PowerDriver;
}

export function defineDriver<S extends TSchema>(spec: DriverSpec<S>): DriverSpec {
  return spec as unknown as DriverSpec;
}

/** `timeoutMs`: one device request / tool run. */
export const timeoutMs = (defaultMs: number) =>
  Type.Integer({ minimum: 1, maximum: 600_000, default: defaultMs, description: 'timeout of one request or tool run (ms)' });

/** `offMs`: how long a cycle keeps the power off where the master times it (PoE, plugs, GPIO). */
export const offMs = (defaultMs = 5000) =>
  Type.Integer({ minimum: 0, maximum: 600_000, default: defaultMs, description: 'how long a cycle keeps the power off (ms)' });

/**
 * Reads the state back after an action. Match → verified; `'unknown'` → done but unverified;
 * the opposite state → `PowerVerifyFailedError`.
 */
export async function verifyState(expected: 'on' | 'off', read: () => Promise<PowerState>, what: string): Promise<PowerResult> {
  const state = await read();
  if (state === expected) return { ok: true, verified: true, state, detail: `${what}; read back ${state}` };
  if (state === 'unknown') return { ok: true, verified: false, state, detail: `${what}; the state read back is unknown` };
  throw new PowerVerifyFailedError(`${what}, but the device reports ${state}`, { expected, actual: state });
}

/**
 * A cycle for devices without a cycle verb: off (verified where possible), wait `offMs`, on. When the
 * "on" half fails the error is re-thrown with `details.phase = 'on'` and `details.leftOff = true`,
 * so the caller's journal knows the port is dark.
 */
export async function offWaitOn(ctx: DriverContext, waitMs: number, off: () => Promise<PowerResult>, on: () => Promise<PowerResult>): Promise<PowerResult> {
  const down = await withPhase('off', off);
  await ctx.sleep(waitMs);
  const up = await withPhase('on', on);
  return {
    ok: down.ok && up.ok,
    verified: down.verified && up.verified,
    state: up.state,
    detail: `off (${down.verified ? 'verified' : 'unverified'}), waited ${waitMs} ms, on (${up.verified ? 'verified' : 'unverified'})`,
  };
}

async function withPhase<T>(phase: 'off' | 'on', fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PowerError) {
      e.message = `cycle: ${phase === 'on' ? 'power is off and turning it back on failed' : 'turning off failed'}: ${e.message}`;
      (e as { details: Record<string, unknown> | undefined }).details = { ...e.details, phase, ...(phase === 'on' ? { leftOff: true } : {}) };
    }
    throw e;
  }
}

/** Runs a tool through the injected exec; a non-zero exit is `PowerRefusedError` with the stderr tail. */
export async function runTool(
  ctx: DriverContext,
  file: string,
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs: number; what: string },
): Promise<ExecResult> {
  const result = await ctx.exec(file, args, { env: { ...ctx.env, ...options.env }, timeoutMs: options.timeoutMs });
  if (result.code !== 0) {
    throw new PowerRefusedError(`${options.what}: ${basename(file)} exited ${result.code}${tail(result.stderr || result.stdout)}`, {
      details: { file: basename(file), exitCode: result.code },
    });
  }
  return result;
}

/** `: <last line(s) of output>` bounded to 300 characters, or ''. */
export function tail(text: string): string {
  const t = text.trim();
  if (!t) return '';
  return `: ${t.length > 300 ? '…' + t.slice(-300) : t}`;
}

/** Fills `{node}` and `{mac}` (and `{mac-}`: dashes, `{macraw}`: 12 hex digits); other braces stay. */
export function fillTemplate(template: string, node: PowerNodeRef, encode: (s: string) => string = (s) => s): string {
  const mac = node.mac ?? '';
  const values: Record<string, string> = { node: node.name, mac, 'mac-': mac.replace(/:/g, '-'), macraw: mac.replace(/:/g, '') };
  return template.replace(/\{(node|mac-|macraw|mac)\}/g, (_, k: string) => encode(values[k]!));
}

/** Placeholders a template may use. */
export const TEMPLATE_PLACEHOLDERS = ['{node}', '{mac}', '{mac-}', '{macraw}'] as const;

/** Problems for an invalid regular expression at `path`. */
export function checkRegex(path: string, source: unknown): Problem[] {
  if (typeof source !== 'string') return [];
  try {
    new RegExp(source, 'i');
    return [];
  } catch (e) {
    return [{ path, message: `not a valid regular expression: ${(e as Error).message}` }];
  }
}

export const ALL_CAPS = { on: true, off: true, cycle: true, status: true, verifiable: true } as const;

/** Rejects with `PowerTimeoutError` when `promise` has not settled within `ms` (the timer never keeps the process alive). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new PowerTimeoutError(`${what}: no answer within ${ms} ms`, { details: { timeoutMs: ms } })), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads the state until it equals `expected` or `tries` reads were made, sleeping `intervalMs`
 * (injected sleep) between reads; returns the last state read. For devices whose state lags the
 * command (a BMC mid-cycle, a Shelly's `toggle_after`, a VM restarting).
 */
export async function pollState(
  ctx: DriverContext,
  expected: PowerState,
  read: () => Promise<PowerState>,
  options: { tries: number; intervalMs: number },
): Promise<PowerState> {
  let state: PowerState = 'unknown';
  for (let i = 0; i < Math.max(1, options.tries); i++) {
    if (i > 0) await ctx.sleep(options.intervalMs);
    state = await read();
    if (state === expected) return state;
  }
  return state;
}

/** `verifyTries` / `verifyIntervalMs`: how long to wait for a lagging read-back. */
export const verifyTries = (defaultTries: number) =>
  Type.Integer({ minimum: 1, maximum: 100, default: defaultTries, description: 'read-backs before a verification fails' });
export const verifyIntervalMs = (defaultMs: number) =>
  Type.Integer({ minimum: 0, maximum: 60_000, default: defaultMs, description: 'pause between read-backs (ms)' });
