/**
 * `qemu`: a VM node through QMP (unix socket or TCP). Used by the tests and for VM nodes.
 * - `offMode: stop` (default): off = `stop` (vCPUs paused, state `paused`), on = `cont` (after a
 *   `system_reset` when the guest had shut down or panicked), cycle = `system_reset` (+ `cont` when
 *   paused). Status = `query-status`: running → on, paused/shutdown/prelaunch → off.
 * - `offMode: quit`: off = `quit` (the QEMU process exits; an unreachable socket then reads as off),
 *   on = the restart hook (injected `restartQemu(node)`, else `restartCommand` run without a shell;
 *   it must return once QEMU is started, e.g. with `-daemonize`), then polled until running.
 *   `cycleMode: restart` makes a cycle quit + restart (a fresh process) instead of `system_reset`.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Problem } from '../../common/errors.ts';
import type { PowerResult, PowerState } from './driver.ts';
import { PowerUnreachableError, PowerVerifyFailedError } from './errors.ts';
import { parseQmpTarget, qmpConnect, type QmpConnection } from './qmp.ts';
import { argvOf } from './command.ts';
import { defineDriver, pollState, runTool, timeoutMs, verifyIntervalMs, verifyTries } from './support.ts';

export const QemuSchema = Type.Object(
  {
    driver: Type.Literal('qemu'),
    /** `unix:/run/picluster/node7.qmp`, `/run/picluster/node7.qmp` or `tcp:127.0.0.1:4444`. */
    qmp: Type.String({ minLength: 2 }),
    offMode: Type.Union([Type.Literal('stop'), Type.Literal('quit')], { default: 'stop' }),
    cycleMode: Type.Union([Type.Literal('reset'), Type.Literal('restart')], { default: 'reset' }),
    /** `offMode: quit`: argv that starts the VM again ({node}, {mac} placeholders). */
    restartCommand: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    timeoutMs: timeoutMs(5000),
    verifyTries: verifyTries(20),
    verifyIntervalMs: verifyIntervalMs(250),
  },
  { additionalProperties: false },
);
type QemuConfig = Static<typeof QemuSchema>;

function checkQemu(c: QemuConfig): Problem[] {
  const problems: Problem[] = [];
  if (!parseQmpTarget(c.qmp)) problems.push({ path: 'qmp', message: "expected 'unix:/path', '/path' or 'tcp:host:port'" });
  if (c.cycleMode === 'restart' && c.offMode !== 'quit') problems.push({ path: 'cycleMode', message: "'restart' needs offMode: quit" });
  return problems;
}

/** `query-status` status → power state. */
export function qmpStatusToState(status: string): PowerState {
  if (['running', 'suspended', 'guest-panicked', 'watchdog', 'debug', 'io-error', 'internal-error'].includes(status)) return 'on';
  if (['paused', 'shutdown', 'prelaunch'].includes(status)) return 'off';
  return 'unknown';
}

const GONE = new Set(['ENOENT', 'ECONNREFUSED', 'ECLOSED', 'ECONNRESET']);

export const qemuDriver = defineDriver({
  name: 'qemu',
  schema: QemuSchema,
  check: checkQemu,
  create: (config, ctx) => {
    const target = parseQmpTarget(config.qmp)!;
    const label = `qemu ${ctx.node.name}`;
    const quitMode = config.offMode === 'quit';
    const withQmp = async <T>(fn: (q: QmpConnection) => Promise<T>): Promise<T> => {
      const q = await qmpConnect(target, config.timeoutMs, label);
      try {
        return await fn(q);
      } finally {
        q.close();
      }
    };
    const rawStatus = () => withQmp(async (q) => ((await q.execute('query-status')) as { status: string }).status);
    const status = async (): Promise<PowerState> => {
      try {
        return qmpStatusToState(await rawStatus());
      } catch (e) {
        // With offMode quit, "no QEMU process" is what off looks like.
        if (quitMode && e instanceof PowerUnreachableError && GONE.has(String(e.details?.['errno']))) return 'off';
        throw e;
      }
    };
    const settle = async (expected: 'on' | 'off', what: string): Promise<PowerResult> => {
      const state = await pollState(ctx, expected, status, { tries: config.verifyTries, intervalMs: config.verifyIntervalMs });
      if (state !== expected) throw new PowerVerifyFailedError(`${what}, but QEMU reports ${state}`, { expected, actual: state });
      return { ok: true, verified: true, state, detail: `${what}; query-status reads ${state}` };
    };
    const restart = async (): Promise<void> => {
      if (ctx.restartQemu) return ctx.restartQemu(ctx.node);
      if (!config.restartCommand) throw new PowerUnreachableError(`${label}: offMode quit needs restartCommand (or an injected restartQemu) to power on`);
      const [file, ...args] = argvOf(config.restartCommand, ctx);
      await runTool(ctx, file!, args, { timeoutMs: config.timeoutMs, what: `${label} restart` });
    };
    const quit = async (): Promise<PowerResult> => {
      if ((await status()) === 'off') return { ok: true, verified: true, state: 'off', detail: 'QEMU was not running' };
      await withQmp(async (q) => {
        await q.execute('quit');
        await q.closed();
      });
      return settle('off', 'quit');
    };
    const on = async (): Promise<PowerResult> => {
      if (quitMode && (await status()) === 'off') {
        await restart();
        return settle('on', 'QEMU restarted');
      }
      await withQmp(async (q) => {
        const s = ((await q.execute('query-status')) as { status: string }).status;
        if (s === 'shutdown' || s === 'guest-panicked') await q.execute('system_reset');
        if (s !== 'running') await q.execute('cont');
      });
      return settle('on', 'cont');
    };
    const off = async (): Promise<PowerResult> => {
      if (quitMode) return quit();
      await withQmp((q) => q.execute('stop'));
      return settle('off', 'stop');
    };
    return {
      name: 'qemu',
      capabilities: { on: true, off: true, cycle: true, status: true, verifiable: true },
      on,
      off,
      cycle: async () => {
        if (config.cycleMode === 'restart') {
          await quit();
          return on();
        }
        if (quitMode && (await status()) === 'off') return on();
        await withQmp(async (q) => {
          await q.execute('system_reset');
          const s = ((await q.execute('query-status')) as { status: string }).status;
          if (s !== 'running') await q.execute('cont');
        });
        return settle('on', 'system_reset');
      },
      status,
    };
  },
});
