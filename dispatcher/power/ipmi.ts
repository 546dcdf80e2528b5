/**
 * `ipmi`: a BMC through `ipmitool -I lanplus -H <host> -U <user> -E chassis power on|off|cycle|status`.
 * The password goes in the environment (`IPMI_PASSWORD`, read by `-E`), never in argv, where any
 * user could read it from /proc. Pis have no BMC: this is for x86 nodes in the same cluster.
 *
 * - `chassis power cycle` is refused by most BMCs while the chassis is off, so a cycle of an off
 *   node is a plain `power on`.
 * - The BMC's state lags the command (a cycle takes a second or more): read-backs are polled
 *   `verifyTries` times, `verifyIntervalMs` apart (injected sleep).
 */
import { Type } from '@sinclair/typebox';
import type { PowerResult, PowerState } from './driver.ts';
import { PowerRefusedError, PowerVerifyFailedError } from './errors.ts';
import { defineDriver, pollState, runTool, timeoutMs, verifyIntervalMs, verifyTries } from './support.ts';

export const IpmiSchema = Type.Object(
  {
    driver: Type.Literal('ipmi'),
    host: Type.String({ minLength: 1, pattern: '^[^\\s-][^\\s]*$' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 623 }),
    user: Type.String({ minLength: 1 }),
    password: Type.String({ minLength: 1 }),
    interface: Type.Union([Type.Literal('lanplus'), Type.Literal('lan')], { default: 'lanplus' }),
    /** `-C`: cipher suite (lanplus), e.g. 17 for newer BMCs. */
    cipherSuite: Type.Optional(Type.Integer({ minimum: 0, maximum: 17 })),
    /** `-L`: privilege level. */
    privilege: Type.Optional(Type.Union([Type.Literal('CALLBACK'), Type.Literal('USER'), Type.Literal('OPERATOR'), Type.Literal('ADMINISTRATOR')])),
    command: Type.String({ minLength: 1, default: 'ipmitool' }),
    timeoutMs: timeoutMs(15_000),
    verifyTries: verifyTries(10),
    verifyIntervalMs: verifyIntervalMs(1000),
  },
  { additionalProperties: false },
);

/** `Chassis Power is on` / `Chassis Power is off`. */
export function parseIpmiStatus(output: string): PowerState {
  const m = /Chassis Power is (on|off)\b/i.exec(output);
  return m ? (m[1]!.toLowerCase() as 'on' | 'off') : 'unknown';
}

export const ipmiDriver = defineDriver({
  name: 'ipmi',
  schema: IpmiSchema,
  create: (config, ctx) => {
    const base = [
      '-I',
      config.interface,
      '-H',
      config.host,
      '-p',
      String(config.port),
      '-U',
      config.user,
      '-E',
      ...(config.cipherSuite !== undefined ? ['-C', String(config.cipherSuite)] : []),
      ...(config.privilege ? ['-L', config.privilege] : []),
    ];
    const ipmitool = (verb: string) =>
      runTool(ctx, config.command, [...base, 'chassis', 'power', verb], {
        env: { IPMI_PASSWORD: config.password },
        timeoutMs: config.timeoutMs,
        what: `ipmitool chassis power ${verb} (${config.host})`,
      });
    const status = async (): Promise<PowerState> => {
      const state = parseIpmiStatus((await ipmitool('status')).stdout);
      if (state === 'unknown') throw new PowerRefusedError(`ipmitool chassis power status of ${config.host} printed no power state`);
      return state;
    };
    const settle = async (expected: 'on' | 'off', what: string): Promise<PowerResult> => {
      const state = await pollState(ctx, expected, status, { tries: config.verifyTries, intervalMs: config.verifyIntervalMs });
      if (state !== expected) throw new PowerVerifyFailedError(`${what}, but the BMC still reports ${state}`, { expected, actual: state });
      return { ok: true, verified: true, state, detail: `${what}; BMC reports ${state}` };
    };
    return {
      name: 'ipmi',
      capabilities: { on: true, off: true, cycle: true, status: true, verifiable: true },
      on: async () => (await ipmitool('on'), settle('on', 'chassis power on')),
      off: async () => (await ipmitool('off'), settle('off', 'chassis power off')),
      cycle: async () => {
        if ((await status()) === 'off') return (await ipmitool('on'), settle('on', 'chassis was off: power on instead of cycle'));
        await ipmitool('cycle');
        return settle('on', 'chassis power cycle');
      },
      status,
    };
  },
});
