/**
 * `http`: power through HTTP. `preset` picks the dialect:
 * - `webhook` (default): MAAS-style generic webhook. Per action a request template (`on`, `off`,
 *   `cycle`, `status`: a URL string for GET, or `{ method, url, body, headers }`), `{node}` / `{mac}`
 *   placeholders (URL-encoded in URLs), shared `headers`, `auth` (basic or bearer), `okStatus`
 *   (regex over the HTTP status code), and `onRegex` / `offRegex` over the status response body.
 *   Without `status` nothing is verified; without `cycle` a cycle is off → `offMs` → on.
 * - `tasmota` (`tasmota.ts`) and `shelly` (`shelly.ts`, device-timed cycle via `toggle_after`).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { Problem } from '../../common/errors.ts';
import { matchState } from './command.ts';
import type { DriverContext, PowerDriver, PowerResult, PowerState } from './driver.ts';
import { PowerRefusedError, PowerUnsupportedError } from './errors.ts';
import { httpRequest } from './http-client.ts';
import { redactUrl } from './redact.ts';
import { ShellySchema, checkShelly, createShelly, type ShellyConfig } from './shelly.ts';
import { TasmotaSchema, checkTasmota, createTasmota, type TasmotaConfig } from './tasmota.ts';
import { checkRegex, defineDriver, fillTemplate, offMs, offWaitOn, tail, timeoutMs, verifyState } from './support.ts';

const Headers = Type.Record(Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" }), Type.String());
const Url = Type.String({ pattern: '^https?://\\S+$' });
const RequestTemplate = Type.Union([
  Url,
  Type.Object(
    {
      method: Type.Optional(Type.Union(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => Type.Literal(m)))),
      url: Url,
      body: Type.Optional(Type.String()),
      headers: Type.Optional(Headers),
    },
    { additionalProperties: false },
  ),
]);
type RequestTemplateT = Static<typeof RequestTemplate>;

export const WebhookSchema = Type.Object(
  {
    driver: Type.Literal('http'),
    preset: Type.Literal('webhook', { default: 'webhook' }),
    on: Type.Optional(RequestTemplate),
    off: Type.Optional(RequestTemplate),
    cycle: Type.Optional(RequestTemplate),
    status: Type.Optional(RequestTemplate),
    onRegex: Type.Optional(Type.String({ minLength: 1 })),
    offRegex: Type.Optional(Type.String({ minLength: 1 })),
    /** Which HTTP status codes count as success. */
    okStatus: Type.String({ minLength: 1, default: '^2\\d\\d$' }),
    headers: Type.Optional(Headers),
    auth: Type.Optional(
      Type.Union([
        Type.Object({ type: Type.Literal('basic'), user: Type.String({ minLength: 1 }), password: Type.String() }, { additionalProperties: false }),
        Type.Object({ type: Type.Literal('bearer'), token: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
      ]),
    ),
    offMs: offMs(),
    timeoutMs: timeoutMs(10_000),
  },
  { additionalProperties: false },
);
type WebhookConfig = Static<typeof WebhookSchema>;

const PRESETS: Record<string, TSchema> = { webhook: WebhookSchema, tasmota: TasmotaSchema, shelly: ShellySchema };

function schemaFor(config: Record<string, unknown>): TSchema {
  const preset = config['preset'] ?? 'webhook';
  return (typeof preset === 'string' && Object.hasOwn(PRESETS, preset) ? PRESETS[preset] : PresetOnly)!;
}
/** An unknown preset: `check` reports it by name (and nothing else). */
const PresetOnly = Type.Object({ driver: Type.Literal('http'), preset: Type.Unknown() });

function checkWebhook(c: WebhookConfig): Problem[] {
  const problems: Problem[] = [];
  if (!c.on && !c.off && !c.cycle) problems.push({ path: '', message: 'needs at least one of on, off, cycle' });
  if (c.status && !c.onRegex) problems.push({ path: 'onRegex', message: 'required with status' });
  if (c.status && !c.offRegex) problems.push({ path: 'offRegex', message: 'required with status' });
  if (!c.status && (c.onRegex || c.offRegex)) problems.push({ path: 'status', message: 'onRegex/offRegex need a status request' });
  problems.push(...checkRegex('onRegex', c.onRegex), ...checkRegex('offRegex', c.offRegex), ...checkRegex('okStatus', c.okStatus));
  return problems;
}

function createWebhook(config: WebhookConfig, ctx: DriverContext): PowerDriver {
  const auth =
    config.auth?.type === 'basic'
      ? `Basic ${Buffer.from(`${config.auth.user}:${config.auth.password}`).toString('base64')}`
      : config.auth?.type === 'bearer'
        ? `Bearer ${config.auth.token}`
        : undefined;
  const ok = new RegExp(config.okStatus);
  const send = async (action: 'on' | 'off' | 'cycle' | 'status'): Promise<string> => {
    const t: RequestTemplateT | undefined = config[action];
    if (!t) throw new PowerUnsupportedError('http', action);
    const tpl = typeof t === 'string' ? { url: t } : t;
    const url = fillTemplate(tpl.url, ctx.node, encodeURIComponent);
    const body = tpl.body === undefined ? undefined : fillTemplate(tpl.body, ctx.node);
    const method = tpl.method ?? (body !== undefined ? 'POST' : 'GET');
    const res = await httpRequest(ctx, {
      method,
      url,
      headers: { ...config.headers, ...tpl.headers, ...(auth ? { authorization: auth } : {}) },
      ...(body !== undefined ? { body } : {}),
      timeoutMs: config.timeoutMs,
    });
    if (!ok.test(String(res.status)))
      throw new PowerRefusedError(`webhook ${action}: ${method} ${redactUrl(url)} answered HTTP ${res.status}${tail(res.text)}`, {
        details: { httpStatus: res.status },
      });
    return res.text;
  };
  const status = async (): Promise<PowerState> => (config.status ? matchState(await send('status'), config.onRegex!, config.offRegex!) : 'unknown');
  const after = async (expected: 'on' | 'off', what: string): Promise<PowerResult> =>
    config.status ? verifyState(expected, status, what) : { ok: true, verified: false, state: 'unknown', detail: `${what}; no status request to verify with` };
  const on = async () => (await send('on'), after('on', 'webhook on accepted'));
  const off = async () => (await send('off'), after('off', 'webhook off accepted'));
  return {
    name: 'http',
    capabilities: {
      on: !!config.on,
      off: !!config.off,
      cycle: !!config.cycle || (!!config.on && !!config.off),
      status: !!config.status,
      verifiable: !!config.status,
    },
    on,
    off,
    cycle: async () => (config.cycle ? (await send('cycle'), after('on', 'webhook cycle accepted')) : offWaitOn(ctx, config.offMs, off, on)),
    status,
  };
}

export const httpDriver = defineDriver({
  name: 'http',
  schema: WebhookSchema,
  schemaFor,
  check: (c) => {
    const preset = (c as { preset?: string }).preset;
    if (preset === 'tasmota') return checkTasmota(c as unknown as TasmotaConfig);
    if (preset === 'shelly') return checkShelly(c as unknown as ShellyConfig);
    if (preset !== 'webhook') return [{ path: 'preset', message: `unknown preset ${JSON.stringify(preset)} (known: ${Object.keys(PRESETS).join(', ')})` }];
    return checkWebhook(c);
  },
  create: (c, ctx) => {
    const preset = (c as { preset?: string }).preset;
    if (preset === 'tasmota') return createTasmota(c as unknown as TasmotaConfig, ctx);
    if (preset === 'shelly') return createShelly(c as unknown as ShellyConfig, ctx);
    return createWebhook(c, ctx);
  },
});
