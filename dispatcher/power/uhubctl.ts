/**
 * `uhubctl`: per-port power of a USB hub (`uhubctl -l <hub> -p <port> -a on|off|cycle [-d s]`).
 * The state is read back from uhubctl's own listing (`uhubctl -l <hub> -p <port>`).
 *
 * Gotchas (mvp/uhubctl README): very few hubs really switch per-port power (the listing says
 * `ppps` when the hub claims to; many that claim it still leave VBUS on); on a Pi B+/2B/3B only
 * port 2 of hub 1-1 is listed and it switches all ports at once; Pi 4 USB2/USB3 hubs are linked.
 * The listing shows what the hub reports, which is not proof that VBUS is gone.
 */
import { Type } from '@sinclair/typebox';
import type { PowerState } from './driver.ts';
import { PowerRefusedError } from './errors.ts';
import { defineDriver, offMs, runTool, timeoutMs, verifyState } from './support.ts';

export const UhubctlSchema = Type.Object(
  {
    driver: Type.Literal('uhubctl'),
    /** Hub location as uhubctl lists it: `1-1`, `2`, `1-1.3`. */
    hub: Type.String({ pattern: '^[0-9]+(-[0-9]+(\\.[0-9]+)*)?$' }),
    /** Port number on that hub. */
    port: Type.Integer({ minimum: 1, maximum: 255 }),
    /** Off time of a cycle, passed as `-d <seconds>`. */
    offMs: offMs(),
    /** `-r N`: repeat the power-off N times (hubs that need it to really drop VBUS). */
    repeat: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /** `-f`: force, for hubs that do not advertise per-port switching. */
    force: Type.Boolean({ default: false }),
    /** Program to run. */
    command: Type.String({ minLength: 1, default: 'uhubctl' }),
    timeoutMs: timeoutMs(20_000),
  },
  { additionalProperties: false },
);

/**
 * The state of `port` in a uhubctl listing; the last block wins (an action prints "Current status"
 * then "New status"). USB2 ports show `0100 power`, USB3 `02a0 power 5gbps ...`, off ports `0000 off`.
 */
export function parseUhubctlPort(output: string, port: number): PowerState {
  let state: PowerState = 'unknown';
  for (const m of output.matchAll(/^\s*Port (\d+): ([0-9a-f]{4})\b(.*)$/gim)) {
    if (Number(m[1]) !== port) continue;
    const words = m[3]!.toLowerCase();
    if (/\bpower\b/.test(words)) state = 'on';
    else if (/\boff\b/.test(words)) state = 'off';
    else state = (parseInt(m[2]!, 16) & 0x0300) !== 0 ? 'on' : 'off';
  }
  return state;
}

/** uhubctl takes the delay in (fractional) seconds. */
const seconds = (ms: number): string => String(Math.round(ms) / 1000);

export const uhubctlDriver = defineDriver({
  name: 'uhubctl',
  schema: UhubctlSchema,
  create: (config, ctx) => {
    const base = ['-l', config.hub, '-p', String(config.port)];
    const run = (args: string[], what: string) => runTool(ctx, config.command, [...base, ...args], { timeoutMs: config.timeoutMs, what });
    const status = async (): Promise<PowerState> => {
      const r = await run([], `uhubctl status of hub ${config.hub} port ${config.port}`);
      const state = parseUhubctlPort(r.stdout, config.port);
      if (state === 'unknown' && !/Port \d+:/i.test(r.stdout)) {
        throw new PowerRefusedError(`uhubctl lists no port ${config.port} on hub ${config.hub} (no hub with per-port power switching there?)`);
      }
      return state;
    };
    const action = async (verb: 'on' | 'off' | 'cycle') => {
      const extra = [...(config.force ? ['-f'] : []), ...(verb !== 'on' && config.repeat ? ['-r', String(config.repeat)] : [])];
      const args = ['-a', verb, ...(verb === 'cycle' ? ['-d', seconds(config.offMs)] : []), ...extra];
      await run(args, `uhubctl ${verb} of hub ${config.hub} port ${config.port}`);
      return verifyState(verb === 'off' ? 'off' : 'on', status, `uhubctl ${verb} sent to hub ${config.hub} port ${config.port}`);
    };
    return {
      name: 'uhubctl',
      capabilities: { on: true, off: true, cycle: true, status: true, verifiable: true },
      on: () => action('on'),
      off: () => action('off'),
      cycle: () => action('cycle'),
      status,
    };
  },
});
