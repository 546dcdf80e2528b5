/**
 * `gpio`: a relay or load switch on a GPIO line of the master, driven with libgpiod's tools.
 * "on" = the line active; `activeLow` for relay boards that switch on a low level.
 *
 * - `tools: v1` (libgpiod 1.x: Debian 12, Pi OS bookworm): `gpioset [-l] <chip> <line>=<0|1>`.
 *   v1's `gpioget` requests the line as an *input*, which would let a relay line float, so the
 *   output line is never read back; give `senseLine` (an input wired to a power-good signal) to verify.
 * - `tools: v2` (libgpiod 2.x: Debian 13): `gpioset -c <chip> [-l] -t 0 <line>=<0|1>` and the read-back
 *   `gpioget -c <chip> -a --numeric [-l] <line>` (`--as-is` keeps it an output). That verifies the
 *   line level, not the load behind the relay.
 * - libgpiod documents that a line's level after gpioset exits is undefined ("reverts to default");
 *   on the Pi's bcm2835/rp1 pin controllers it holds in practice. Check yours (README).
 */
import { Type } from '@sinclair/typebox';
import type { PowerState } from './driver.ts';
import { PowerRefusedError } from './errors.ts';
import { defineDriver, offMs, offWaitOn, runTool, timeoutMs, verifyState } from './support.ts';
import type { PowerResult } from './driver.ts';

const Line = Type.Union([Type.Integer({ minimum: 0, maximum: 4095 }), Type.String({ pattern: '^[A-Za-z0-9_.\\-]{1,63}$' })]);

export const GpioSchema = Type.Object(
  {
    driver: Type.Literal('gpio'),
    /** `gpiochip0` (v1 also takes a number; v2 also takes a path or label). */
    chip: Type.String({ minLength: 1, default: 'gpiochip0' }),
    /** Line offset (17) or, with v2, a line name (`GPIO17`). */
    line: Line,
    activeLow: Type.Boolean({ default: false }),
    tools: Type.Union([Type.Literal('v1'), Type.Literal('v2')], { default: 'v1' }),
    /** An input line that reads active while the node has power (read with gpioget; verifies v1 and v2). */
    senseLine: Type.Optional(Line),
    senseActiveLow: Type.Boolean({ default: false }),
    offMs: offMs(),
    gpiosetCommand: Type.String({ minLength: 1, default: 'gpioset' }),
    gpiogetCommand: Type.String({ minLength: 1, default: 'gpioget' }),
    timeoutMs: timeoutMs(5_000),
  },
  { additionalProperties: false },
);

/** `1` / `0` (v1, v2 --numeric) or `"17"=active` / `"17"=inactive` (v2). */
export function parseGpioget(output: string): PowerState {
  const t = output.trim();
  if (/^1$|=active$/.test(t)) return 'on';
  if (/^0$|=inactive$/.test(t)) return 'off';
  return 'unknown';
}

export const gpioDriver = defineDriver({
  name: 'gpio',
  schema: GpioSchema,
  check: (c) =>
    c.tools === 'v1' && typeof c.line === 'string' ? [{ path: 'line', message: 'libgpiod v1 tools take a line offset (a number); names need tools: v2' }] : [],
  create: (config, ctx) => {
    const v2 = config.tools === 'v2';
    const set = async (active: boolean): Promise<void> => {
      const assignment = `${config.line}=${active ? 1 : 0}`;
      const args = v2
        ? ['-c', config.chip, ...(config.activeLow ? ['-l'] : []), '-t', '0', assignment]
        : [...(config.activeLow ? ['-l'] : []), config.chip, assignment];
      await runTool(ctx, config.gpiosetCommand, args, { timeoutMs: config.timeoutMs, what: `gpioset ${config.chip} line ${config.line}` });
    };
    const readable = config.senseLine !== undefined || v2;
    const status = async (): Promise<PowerState> => {
      if (!readable) return 'unknown';
      const sense = config.senseLine !== undefined;
      const line = String(sense ? config.senseLine : config.line);
      const low = sense ? config.senseActiveLow : config.activeLow;
      const args = v2 ? ['-c', config.chip, ...(sense ? [] : ['-a']), '--numeric', ...(low ? ['-l'] : []), line] : [...(low ? ['-l'] : []), config.chip, line];
      const r = await runTool(ctx, config.gpiogetCommand, args, { timeoutMs: config.timeoutMs, what: `gpioget ${config.chip} line ${line}` });
      const state = parseGpioget(r.stdout);
      if (state === 'unknown') throw new PowerRefusedError(`gpioget printed something unexpected for line ${line}`);
      return state;
    };
    const to = async (active: boolean): Promise<PowerResult> => {
      await set(active);
      const what = `line ${config.line} set ${active ? 'active' : 'inactive'}`;
      return readable
        ? verifyState(active ? 'on' : 'off', status, what)
        : { ok: true, verified: false, state: 'unknown', detail: `${what}; v1 tools cannot read an output line back (no senseLine)` };
    };
    return {
      name: 'gpio',
      capabilities: { on: true, off: true, cycle: true, status: readable, verifiable: readable },
      on: () => to(true),
      off: () => to(false),
      cycle: () =>
        offWaitOn(
          ctx,
          config.offMs,
          () => to(false),
          () => to(true),
        ),
      status,
    };
  },
});
