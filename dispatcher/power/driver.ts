/**
 * The power-driver contract. One `PowerDriver` per node, made by `createPowerDriver(node.power, deps)`
 * from the inventory's free-form `power: { driver, ... }` block.
 *
 * Contract every driver keeps (the factory's guard enforces the generic parts):
 * - An action resolves with a `PowerResult` or rejects with a `PowerError` (`errors.ts`): unreachable,
 *   refused, verify-failed, unsupported, timeout. Bad config never gets this far (`POWER_BAD_CONFIG`
 *   is thrown by the factory).
 * - After every action the state is read back where the device can tell; `verified: true` only then.
 *   A read-back that contradicts the action rejects with `PowerVerifyFailedError`.
 * - `cycle()` on a device without a cycle verb is off → wait `offMs` (injected `sleep`) → on. If the
 *   "on" half fails the error says so (`details.phase = 'on'`): the port is left off, the caller's
 *   journal must turn it back on.
 * - `status()` never throws for "cannot tell": it resolves `'unknown'` (drivers without a status verb);
 *   it rejects only when the device was asked and failed to answer.
 * - Calling an action whose capability is false rejects with `PowerUnsupportedError` (no I/O).
 * - Secrets (SNMP community/keys, HTTP passwords/tokens, IPMI password, command env) never appear in
 *   logs, error messages or results; `describePowerConfig` gives the redacted config for API responses.
 */
import type { Logger } from '../../common/logger.ts';
import type { Clock } from '../../common/clock.ts';
import { systemClock } from '../../common/clock.ts';
import { setTimeout as delay } from 'node:timers/promises';
import type { Problem } from '../../common/errors.ts';
import { PowerConfigError } from './errors.ts';
import { nodeExec } from './exec.ts';
import { guardDriver } from './guard.ts';
import { DRIVER_SPECS, DRIVER_NAMES } from './registry.ts';
import { checkPowerConfig } from './validate.ts';

export type PowerState = 'on' | 'off' | 'unknown';
export type PowerAction = 'on' | 'off' | 'cycle' | 'status';

export interface PowerCapabilities {
  readonly on: boolean;
  readonly off: boolean;
  readonly cycle: boolean;
  readonly status: boolean;
  /** Actions are confirmed by reading the state back from the device (results can be `verified: true`). */
  readonly verifiable: boolean;
}

export interface PowerResult {
  /** The action was carried out (as far as the device or tool said). `false` only for `manual` (a human was asked). */
  readonly ok: boolean;
  /** The state was read back from the device and matches the action. */
  readonly verified: boolean;
  /** The state after the action (`'unknown'` where the device cannot tell). */
  readonly state: PowerState;
  /** Human-readable detail, free of secrets. */
  readonly detail?: string;
}

export interface PowerDriver {
  /** The driver name: `snmp-poe`, `http`, `uhubctl`, `gpio`, `ipmi`, `command`, `agent`, `manual`, `qemu`. */
  readonly name: string;
  readonly capabilities: PowerCapabilities;
  on(): Promise<PowerResult>;
  off(): Promise<PowerResult>;
  cycle(): Promise<PowerResult>;
  status(): Promise<PowerState>;
}

/** The node a driver powers (for templates, the agent reboot and alerts). */
export interface PowerNodeRef {
  readonly name: string;
  readonly mac?: string;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code (0 = success). */
  readonly code: number;
}

export interface ExecOptions {
  /** Extra environment on top of the master's own (e.g. `IPMI_PASSWORD`, the test's `PATH`). */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

/**
 * Runs a program without a shell (`node:child_process.execFile`). Resolves with the exit code for
 * any exit; rejects with `PowerUnreachableError` (cannot start) or `PowerTimeoutError` (killed after
 * `timeoutMs`).
 */
export type ExecFn = (file: string, args: readonly string[], options: ExecOptions) => Promise<ExecResult>;

/** Waits `ms` milliseconds. Tests inject one that advances a manual clock instead of sleeping. */
export type SleepFn = (ms: number) => Promise<void>;

export interface PowerAlert {
  readonly node: string;
  readonly driver: string;
  readonly action: Exclude<PowerAction, 'status'>;
  readonly message: string;
}

export interface PowerDeps {
  readonly log: Logger;
  /** The node this driver powers. */
  readonly node: PowerNodeRef;
  readonly clock?: Clock;
  /** Default: `node:timers/promises` setTimeout. */
  readonly sleep?: SleepFn;
  /** Default: `nodeExec` (execFile, no shell). */
  readonly exec?: ExecFn;
  /** Extra environment for every command a driver runs (tests put their stub dir first on `PATH`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Default: global `fetch`. */
  readonly fetch?: typeof fetch;
  /** `agent` driver: ask the node's agent to reboot. Resolve when the agent accepted, reject when it cannot be asked. */
  readonly rebootViaAgent?: (node: PowerNodeRef) => Promise<void>;
  /** `manual` driver (and anything that needs a human): raise an alert. */
  readonly raiseAlert?: (alert: PowerAlert) => void | Promise<void>;
  /** `qemu` driver with `offMode: quit`: start the VM again (takes precedence over config `restartCommand`). */
  readonly restartQemu?: (node: PowerNodeRef) => Promise<void>;
}

/** What a driver implementation receives: deps with defaults filled and a child logger. */
export interface DriverContext {
  readonly log: Logger;
  readonly node: PowerNodeRef;
  readonly clock: Clock;
  readonly sleep: SleepFn;
  readonly exec: ExecFn;
  readonly env: Readonly<Record<string, string>>;
  readonly fetch: typeof fetch;
  readonly rebootViaAgent?: (node: PowerNodeRef) => Promise<void>;
  readonly raiseAlert?: (alert: PowerAlert) => void | Promise<void>;
  readonly restartQemu?: (node: PowerNodeRef) => Promise<void>;
}

export type PowerConfig = Readonly<Record<string, unknown>> & { readonly driver: string };

export { DRIVER_NAMES as POWER_DRIVERS };

/**
 * Every problem of a power block at once (schema and cross-field checks), each with its path
 * relative to the block, or prefixed with `options.path` (e.g. `nodes[3].power`). Empty = valid.
 */
export function validatePowerConfig(config: unknown, options: { path?: string } = {}): Problem[] {
  const { problems } = checkPowerConfig(config);
  const prefix = options.path ? `${options.path}` : '';
  return prefix ? problems.map((p) => ({ path: p.path ? `${prefix}.${p.path}` : prefix, message: p.message })) : problems;
}

/** Builds the driver for one node. Throws `PowerConfigError` (`POWER_BAD_CONFIG`) listing every problem. */
export function createPowerDriver(config: PowerConfig, deps: PowerDeps): PowerDriver {
  const { value, problems } = checkPowerConfig(config);
  if (problems.length || !value) throw new PowerConfigError(problems, `invalid power config for ${deps.node.name}`);
  const spec = DRIVER_SPECS[value.driver]!;
  const ctx: DriverContext = {
    log: deps.log.child({ component: 'power', driver: value.driver, node: deps.node.name }),
    node: deps.node,
    clock: deps.clock ?? systemClock,
    sleep: deps.sleep ?? ((ms) => delay(ms)),
    exec: deps.exec ?? nodeExec,
    env: deps.env ?? {},
    fetch: deps.fetch ?? globalThis.fetch,
    ...(deps.rebootViaAgent ? { rebootViaAgent: deps.rebootViaAgent } : {}),
    ...(deps.raiseAlert ? { raiseAlert: deps.raiseAlert } : {}),
    ...(deps.restartQemu ? { restartQemu: deps.restartQemu } : {}),
  };
  return guardDriver(spec.create(value, ctx), ctx, value);
}

export { describePowerConfig } from './redact.ts';
