/**
 * Secrets in power configs: SNMP community and v3 keys, HTTP passwords/tokens (in `auth`, in
 * secret-looking headers, as URL userinfo or `password=`/`token=` query parameters), the IPMI
 * password, and every value of a `command` driver's `env`.
 *
 * - `describePowerConfig(config)` is the config as API responses and logs may show it.
 * - `secretValues(config)` lists the raw secret strings so the guard can scrub them out of any
 *   message, detail or error that a device or tool produced (a tool may echo its argv or URL).
 */
export const REDACTED = '[redacted]';

/** Keys whose (scalar) value is a secret wherever they appear. */
const SECRET_KEY = /pass(word|wd|phrase)?$|token|secret|community|authkey|privkey|apikey|api_key|credential/i;
/** Header names whose value is a secret. */
const SECRET_HEADER = /authorization|cookie|token|secret|password|api-?key|auth/i;
/** URL query parameters whose value is a secret. */
const SECRET_PARAM = /^(password|passwd|pass|pw|token|access_token|api_?key|key|secret|auth|community)$/i;

/** Redacts URL userinfo passwords and secret query parameters, keeping `{placeholders}` intact. */
export function redactUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:?#]*):[^/@?#]*@/i, `$1:${REDACTED}@`)
    .replace(/([?&])([^=&#]+)=([^&#]*)/g, (all, sep: string, name: string) => (SECRET_PARAM.test(decodeSafe(name)) ? `${sep}${name}=${REDACTED}` : all));
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

const looksLikeUrl = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /[?&][^=&#]+=/.test(s);

function redactValue(key: string | undefined, value: unknown, parent: string | undefined): unknown {
  if (value === undefined || value === null) return value;
  if (parent === 'env' && typeof value !== 'object') return REDACTED;
  if (parent === 'headers' && key !== undefined && SECRET_HEADER.test(key) && typeof value !== 'object') return REDACTED;
  if (key !== undefined && SECRET_KEY.test(key) && typeof value !== 'object') return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactValue(undefined, v, parent));
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactValue(k, v, key)]));
  }
  if (typeof value === 'string' && looksLikeUrl(value)) return redactUrl(value);
  return value;
}

/** A deep copy of a power config with every secret replaced by `[redacted]` (for API responses and logs). */
export function describePowerConfig<T>(config: T): T {
  return redactValue(undefined, config, undefined) as T;
}

/** Every secret string in a config (raw, URL-encoded and decoded forms), longest first. */
export function secretValues(config: unknown): string[] {
  const out = new Set<string>();
  const add = (s: string): void => {
    if (!s || s === REDACTED) return;
    out.add(s);
    out.add(encodeURIComponent(s));
    out.add(decodeSafe(s));
  };
  const walk = (key: string | undefined, value: unknown, parent: string | undefined): void => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) return value.forEach((v) => walk(undefined, v, parent));
    if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(k, v, key);
      return;
    }
    const s = String(value);
    if (parent === 'env' || (key !== undefined && SECRET_KEY.test(key))) return add(s);
    if (parent === 'headers' && key !== undefined && SECRET_HEADER.test(key)) {
      add(s);
      // `Bearer abc` / `Basic abc`: the credential alone too.
      const m = /^\S+\s+(\S.*)$/.exec(s);
      if (m) add(m[1]!);
      return;
    }
    if (typeof value === 'string' && looksLikeUrl(value)) {
      const user = /^[a-z][a-z0-9+.-]*:\/\/[^/@:?#]*:([^/@?#]*)@/i.exec(value);
      if (user) add(user[1]!);
      for (const m of value.matchAll(/[?&]([^=&#]+)=([^&#]*)/g)) if (SECRET_PARAM.test(decodeSafe(m[1]!))) add(m[2]!);
    }
  };
  walk(undefined, config, undefined);
  return [...out].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** A function that replaces every secret value in a text with `[redacted]`. */
export function makeScrubber(config: unknown): (text: string) => string {
  const secrets = secretValues(config);
  if (!secrets.length) return (t) => t;
  return (text) => {
    let t = text;
    for (const s of secrets) if (t.includes(s)) t = t.split(s).join(REDACTED);
    return t;
  };
}
