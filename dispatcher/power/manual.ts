/**
 * `manual`: nothing to switch, so every action asks a human through an alert and resolves with
 * `ok: false, verified: false` and a detail saying so. The recovery ladder treats it as "not done":
 * it should not count it as a cycle, and it should not retry it in a loop (the alert is enough).
 */
import { Type } from '@sinclair/typebox';
import { defineDriver } from './support.ts';
import type { PowerAction, PowerResult } from './driver.ts';

export const ManualSchema = Type.Object(
  {
    driver: Type.Literal('manual'),
    /** Shown in the alert: where the node is and how to power it ("shelf 2, third plug from the left"). */
    instructions: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

const VERB: Record<Exclude<PowerAction, 'status'>, string> = { on: 'power on', off: 'power off', cycle: 'power-cycle' };

export const manualDriver = defineDriver({
  name: 'manual',
  schema: ManualSchema,
  create: (config, ctx) => {
    const ask = (action: Exclude<PowerAction, 'status'>) => async (): Promise<PowerResult> => {
      const message = `please ${VERB[action]} ${ctx.node.name} by hand${config.instructions ? `: ${config.instructions}` : ''}`;
      let raised = false;
      if (ctx.raiseAlert) {
        try {
          await ctx.raiseAlert({ node: ctx.node.name, driver: 'manual', action, message });
          raised = true;
        } catch (e) {
          ctx.log.error({ action, err: e }, 'raising the manual power alert failed');
        }
      }
      if (!raised) ctx.log.error({ action, message }, 'manual power: a human is needed');
      return {
        ok: false,
        verified: false,
        state: 'unknown',
        detail: `manual power: nothing was switched; ${raised ? 'an alert asks' : 'the log asks'} a human to ${VERB[action]} ${ctx.node.name}`,
      };
    };
    return {
      name: 'manual',
      capabilities: { on: true, off: true, cycle: true, status: false, verifiable: false },
      on: ask('on'),
      off: ask('off'),
      cycle: ask('cycle'),
      status: async () => 'unknown',
    };
  },
});
