/**
 * `agent`: a soft reboot through the node's own agent (`reboot` over its ws link). No power is
 * switched, so there is no on/off and no state: `cycle()` resolves once the agent accepted the
 * request (`verified: false`, state `unknown`); the caller confirms the reboot by the new boot id.
 * It rejects with `POWER_UNREACHABLE` when the agent cannot be asked (not connected, hung).
 */
import { Type } from '@sinclair/typebox';
import { PowerUnreachableError, PowerUnsupportedError } from './errors.ts';
import { defineDriver, timeoutMs, withTimeout } from './support.ts';

export const AgentSchema = Type.Object(
  {
    driver: Type.Literal('agent'),
    /** How long the agent has to accept the reboot request. */
    timeoutMs: timeoutMs(10_000),
  },
  { additionalProperties: false },
);

export const agentDriver = defineDriver({
  name: 'agent',
  schema: AgentSchema,
  create: (config, ctx) => ({
    name: 'agent',
    capabilities: { on: false, off: false, cycle: true, status: false, verifiable: false },
    on: () => Promise.reject(new PowerUnsupportedError('agent', 'on')),
    off: () => Promise.reject(new PowerUnsupportedError('agent', 'off')),
    cycle: async () => {
      const reboot = ctx.rebootViaAgent;
      if (!reboot) throw new PowerUnreachableError(`no agent link to reboot ${ctx.node.name} through`);
      try {
        await withTimeout(reboot(ctx.node), config.timeoutMs, `agent reboot of ${ctx.node.name}`);
      } catch (e) {
        if (e instanceof PowerUnreachableError || (e as { code?: string }).code === 'POWER_TIMEOUT') throw e;
        throw new PowerUnreachableError(`the agent of ${ctx.node.name} could not be asked to reboot: ${(e as Error).message}`, { cause: e });
      }
      return { ok: true, verified: false, state: 'unknown', detail: `reboot requested via the agent of ${ctx.node.name}` };
    },
    status: async () => 'unknown',
  }),
});
