/**
 * `command`: user templates (Warewulf-style) for on/off/cycle/status, run without a shell through
 * the injected exec. Placeholders `{node}`, `{mac}`, `{mac-}` (dashes), `{macraw}` (12 hex digits)
 * are filled per argument. A template is an argv array, or a string split on whitespace (no quoting:
 * use the array form for arguments with spaces). Secrets go in `env` (redacted everywhere), not argv.
 * `status` prints something matched by `onRegex` / `offRegex` (case-insensitive, multi-line: ^ and $ match per line; exactly one must
 * match, else the state is unknown). Without `status` nothing is verified.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Problem } from '../../common/errors.ts';
import type { DriverContext, PowerResult, PowerState } from './driver.ts';
import { PowerUnsupportedError } from './errors.ts';
import { checkRegex, defineDriver, fillTemplate, offMs, offWaitOn, runTool, timeoutMs, verifyState } from './support.ts';

const Argv = Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String(), { minItems: 1 })]);

export const CommandSchema = Type.Object(
  {
    driver: Type.Literal('command'),
    on: Type.Optional(Argv),
    off: Type.Optional(Argv),
    /** Without it, a cycle is off → `offMs` → on. */
    cycle: Type.Optional(Argv),
    status: Type.Optional(Argv),
    onRegex: Type.Optional(Type.String({ minLength: 1 })),
    offRegex: Type.Optional(Type.String({ minLength: 1 })),
    /** Extra environment for every template (put secrets here; values are redacted). */
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.String())),
    timeoutMs: timeoutMs(30_000),
    offMs: offMs(),
  },
  { additionalProperties: false },
);
type CommandConfig = Static<typeof CommandSchema>;

function checkCommand(c: CommandConfig): Problem[] {
  const problems: Problem[] = [];
  if (!c.on && !c.off && !c.cycle) problems.push({ path: '', message: 'needs at least one of on, off, cycle' });
  if (c.status && (!c.onRegex || !c.offRegex)) {
    if (!c.onRegex) problems.push({ path: 'onRegex', message: 'required with status' });
    if (!c.offRegex) problems.push({ path: 'offRegex', message: 'required with status' });
  }
  if (!c.status && (c.onRegex || c.offRegex)) problems.push({ path: 'status', message: 'onRegex/offRegex need a status template' });
  for (const k of ['on', 'off', 'cycle', 'status'] as const) {
    const t = c[k];
    if (Array.isArray(t) && !t[0]) problems.push({ path: `${k}[0]`, message: 'the program must not be empty' });
  }
  problems.push(...checkRegex('onRegex', c.onRegex), ...checkRegex('offRegex', c.offRegex));
  return problems;
}

export function argvOf(template: string | readonly string[], ctx: Pick<DriverContext, 'node'>): string[] {
  const parts = typeof template === 'string' ? template.trim().split(/\s+/) : [...template];
  return parts.map((p) => fillTemplate(p, ctx.node));
}

/** Maps a status output to a state: exactly one regex must match. */
export function matchState(output: string, onRegex: string, offRegex: string): PowerState {
  const on = new RegExp(onRegex, 'im').test(output);
  const off = new RegExp(offRegex, 'im').test(output);
  return on === off ? 'unknown' : on ? 'on' : 'off';
}

export const commandDriver = defineDriver({
  name: 'command',
  schema: CommandSchema,
  check: checkCommand,
  create: (config, ctx) => {
    const run = async (action: 'on' | 'off' | 'cycle' | 'status'): Promise<string> => {
      const template = config[action];
      if (!template) throw new PowerUnsupportedError('command', action);
      const [file, ...args] = argvOf(template, ctx);
      const r = await runTool(ctx, file!, args, { env: { ...config.env }, timeoutMs: config.timeoutMs, what: `command ${action} for ${ctx.node.name}` });
      return `${r.stdout}\n${r.stderr}`;
    };
    const status = async (): Promise<PowerState> => (config.status ? matchState(await run('status'), config.onRegex!, config.offRegex!) : 'unknown');
    const after = async (expected: 'on' | 'off', what: string): Promise<PowerResult> =>
      config.status
        ? verifyState(expected, status, what)
        : { ok: true, verified: false, state: 'unknown', detail: `${what}; no status template to verify with` };
    const on = async (): Promise<PowerResult> => (await run('on'), after('on', 'on command succeeded'));
    const off = async (): Promise<PowerResult> => (await run('off'), after('off', 'off command succeeded'));
    return {
      name: 'command',
      capabilities: {
        on: !!config.on,
        off: !!config.off,
        cycle: !!config.cycle || (!!config.on && !!config.off),
        status: !!config.status,
        verifiable: !!config.status,
      },
      on,
      off,
      cycle: async () => {
        if (config.cycle) return (await run('cycle'), after('on', 'cycle command succeeded'));
        return offWaitOn(ctx, config.offMs, off, on);
      },
      status,
    };
  },
});
