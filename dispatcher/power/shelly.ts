/**
 * `http` preset `shelly`: a Shelly Gen2+ (Plus/Pro) switch over JSON-RPC (`POST <url>/rpc`).
 * - on/off: `Switch.Set {id, on}`; state: `Switch.GetStatus {id}` → `output`.
 * - cycle is **device-timed**: `Switch.Set {id, on: false, toggle_after: offMs/1000}`. The Shelly
 *   flips itself back on after `toggle_after` seconds, so a master that dies mid-cycle cannot leave
 *   the node dark. The driver reads `output: false` right away (the off half), then waits `offMs`
 *   (injected sleep) and polls until `output: true` (`verifyTries` × `verifyIntervalMs`).
 * - A device password means HTTP Digest auth (user `admin`, SHA-256), answered automatically.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { DriverContext, PowerDriver, PowerResult, PowerState } from './driver.ts';
import { PowerRefusedError, PowerVerifyFailedError } from './errors.ts';
import { httpRequest } from './http-client.ts';
import { offMs, pollState, timeoutMs, verifyIntervalMs, verifyState, verifyTries } from './support.ts';

export const ShellySchema = Type.Object(
  {
    driver: Type.Literal('http'),
    preset: Type.Literal('shelly'),
    /** Base URL of the device: `http://10.0.0.32`. */
    url: Type.String({ pattern: '^https?://[^\\s?#]+$' }),
    /** Switch component id (0 on single-channel devices). */
    switchId: Type.Integer({ minimum: 0, maximum: 15, default: 0 }),
    /** Device password (Digest auth as user `admin`). */
    password: Type.Optional(Type.String({ minLength: 1 })),
    /** Off time of the device-timed cycle (`toggle_after`, whole or fractional seconds). */
    offMs: offMs(),
    timeoutMs: timeoutMs(5000),
    /** After the off time, how often to read until the switch is back on. */
    verifyTries: verifyTries(5),
    verifyIntervalMs: verifyIntervalMs(1000),
  },
  { additionalProperties: false },
);
export type ShellyConfig = Static<typeof ShellySchema>;

export function checkShelly(c: ShellyConfig): { path: string; message: string }[] {
  return c.offMs < 1000 ? [{ path: 'offMs', message: 'Shelly toggle_after needs at least 1000 ms' }] : [];
}

export function createShelly(config: ShellyConfig, ctx: DriverContext): PowerDriver {
  const url = `${config.url.replace(/\/+$/, '')}/rpc`;
  let nextId = 1;
  const rpc = async (method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const id = nextId++;
    const res = await httpRequest(ctx, {
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, src: 'picluster', method, params }),
      timeoutMs: config.timeoutMs,
      ...(config.password ? { digest: { user: 'admin', password: config.password } } : {}),
    });
    if (res.status === 401)
      throw new PowerRefusedError(`shelly ${config.url}: ${config.password ? 'wrong password' : 'the device needs a password'} (HTTP 401)`);
    let body: { result?: Record<string, unknown>; error?: { code?: number; message?: string } };
    try {
      body = JSON.parse(res.text) as typeof body;
    } catch {
      throw new PowerRefusedError(`shelly ${config.url}: HTTP ${res.status}, not a JSON-RPC reply`);
    }
    if (body.error) throw new PowerRefusedError(`shelly ${config.url}: ${method} failed: ${body.error.message ?? 'error'} (${body.error.code ?? '?'})`);
    if (res.status < 200 || res.status > 299 || !body.result) throw new PowerRefusedError(`shelly ${config.url}: ${method}: HTTP ${res.status}`);
    return body.result;
  };
  const status = async (): Promise<PowerState> => {
    const r = await rpc('Switch.GetStatus', { id: config.switchId });
    return r['output'] === true ? 'on' : r['output'] === false ? 'off' : 'unknown';
  };
  const set = async (on: boolean): Promise<PowerResult> => {
    await rpc('Switch.Set', { id: config.switchId, on });
    return verifyState(on ? 'on' : 'off', status, `shelly switch ${config.switchId} set ${on ? 'on' : 'off'}`);
  };
  return {
    name: 'http',
    capabilities: { on: true, off: true, cycle: true, status: true, verifiable: true },
    on: () => set(true),
    off: () => set(false),
    cycle: async () => {
      const seconds = config.offMs / 1000;
      await rpc('Switch.Set', { id: config.switchId, on: false, toggle_after: seconds });
      const down = await status();
      await ctx.sleep(config.offMs);
      const up = await pollState(ctx, 'on', status, { tries: config.verifyTries, intervalMs: config.verifyIntervalMs });
      if (up !== 'on')
        throw new PowerVerifyFailedError(`shelly switch ${config.switchId}: toggle_after ${seconds} s passed, but it is still ${up}`, {
          expected: 'on',
          actual: up,
        });
      return {
        ok: true,
        verified: down === 'off',
        state: 'on',
        detail: `device-timed cycle (toggle_after ${seconds} s): read back ${down}, then on`,
      };
    },
    status,
  };
}
