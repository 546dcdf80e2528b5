/**
 * `http` preset `tasmota`: a Tasmota plug or relay over its HTTP command API.
 * `GET <url>/cm?cmnd=Power<n>%20On|Off` → `{"POWER<n>":"ON"}`; `cmnd=Power<n>` reads the state.
 * With a web password, `user` and `password` go as query parameters (Tasmota's scheme: keep the
 * plug on a trusted network, the password crosses it in clear text). Single-relay devices answer
 * `POWER`, multi-relay ones `POWER1`..; both are accepted.
 * Cycle = off, `offMs`, on (master-timed; each half read back).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { DriverContext, PowerDriver, PowerResult, PowerState } from './driver.ts';
import { PowerRefusedError, PowerVerifyFailedError } from './errors.ts';
import { httpRequest } from './http-client.ts';
import { offMs, offWaitOn, timeoutMs, verifyState } from './support.ts';

export const TasmotaSchema = Type.Object(
  {
    driver: Type.Literal('http'),
    preset: Type.Literal('tasmota'),
    /** Base URL of the device: `http://10.0.0.31`. */
    url: Type.String({ pattern: '^https?://[^\\s?#]+$' }),
    /** Relay number (`Power1`..`Power8`); 1 on single-relay plugs. */
    relay: Type.Integer({ minimum: 1, maximum: 32, default: 1 }),
    user: Type.Optional(Type.String({ minLength: 1 })),
    password: Type.Optional(Type.String({ minLength: 1 })),
    offMs: offMs(),
    timeoutMs: timeoutMs(5000),
  },
  { additionalProperties: false },
);
export type TasmotaConfig = Static<typeof TasmotaSchema>;

export function checkTasmota(c: TasmotaConfig): { path: string; message: string }[] {
  return c.password && !c.user ? [{ path: 'user', message: 'required with password (Tasmota web user, usually admin)' }] : [];
}

/** The relay's state in a Tasmota reply (`{"POWER":"ON"}`, `{"POWER2":"OFF"}`). */
export function parseTasmotaPower(text: string, relay: number): PowerState {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return 'unknown';
  }
  const v = json[`POWER${relay}`] ?? (relay === 1 ? json['POWER'] : undefined);
  return v === 'ON' || v === 1 ? 'on' : v === 'OFF' || v === 0 ? 'off' : 'unknown';
}

export function createTasmota(config: TasmotaConfig, ctx: DriverContext): PowerDriver {
  const base = config.url.replace(/\/+$/, '');
  const power = `Power${config.relay}`;
  const command = async (cmnd: string): Promise<PowerState> => {
    const auth = config.password ? `user=${encodeURIComponent(config.user!)}&password=${encodeURIComponent(config.password)}&` : '';
    const url = `${base}/cm?${auth}cmnd=${encodeURIComponent(cmnd)}`;
    const res = await httpRequest(ctx, { method: 'GET', url, timeoutMs: config.timeoutMs });
    if (res.status === 401 || /"WARNING"\s*:\s*"Need user/.test(res.text)) throw new PowerRefusedError(`tasmota ${base}: wrong or missing user/password`);
    if (res.status < 200 || res.status > 299) throw new PowerRefusedError(`tasmota ${base}: HTTP ${res.status} for ${cmnd}`);
    const state = parseTasmotaPower(res.text, config.relay);
    if (state === 'unknown') throw new PowerRefusedError(`tasmota ${base}: no ${power} state in the reply to ${cmnd} (wrong relay number?)`);
    return state;
  };
  const status = () => command(power);
  const to = async (on: boolean): Promise<PowerResult> => {
    const expected = on ? 'on' : 'off';
    const what = `tasmota ${power} ${on ? 'On' : 'Off'}`;
    // The command's own reply reports the new state; a separate read confirms it stuck.
    const reported = await command(`${power} ${on ? 'On' : 'Off'}`);
    if (reported !== expected) throw new PowerVerifyFailedError(`${what}: the device replied ${reported}`, { expected, actual: reported });
    return verifyState(expected, status, what);
  };
  return {
    name: 'http',
    capabilities: { on: true, off: true, cycle: true, status: true, verifiable: true },
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
}
