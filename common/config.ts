/**
 * `loadConfig(sources) → Config`: one YAML file + `PICLUSTER_*` env overrides, defaults
 * filled, validated against one TypeBox schema, frozen. Every problem is reported at once,
 * each with its path. Nothing else in picluster reads `process.env` for configuration.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isIPv4, isIPv6 } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { PiclusterError, ValidationError, type Problem } from './errors.ts';
import { NetbootConfigSchema } from '../netboot/config.ts';
import { ImageConfigSchema } from '../image/config.ts';
import { LimitsConfigSchema } from './limits-config.ts';

// TypeBox's Value checker knows no string formats until they are registered.
if (!FormatRegistry.Has('ipv4')) FormatRegistry.Set('ipv4', (v) => isIPv4(v));
if (!FormatRegistry.Has('ipv6')) FormatRegistry.Set('ipv6', (v) => isIPv6(v));
if (!FormatRegistry.Has('uri')) FormatRegistry.Set('uri', (v) => URL.canParse(v));

export const STRATEGIES = ['round-robin', 'weighted-random', 'least-connections', 'best-performance', 'least-recent'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

const Strategy = Type.Union(
  STRATEGIES.map((s) => Type.Literal(s)),
  { default: 'round-robin' },
);

export const ConfigSchema = Type.Object(
  {
    /** Where the SQLite database, admin token and cluster secret live. */
    dataDir: Type.String({ minLength: 1, default: './data' }),
    http: Type.Object(
      {
        host: Type.String({ minLength: 1, default: '0.0.0.0' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        /** URL agents and browsers use to reach the master; derived from host/port when absent. */
        publicUrl: Type.Optional(Type.String({ minLength: 1 })),
        /** Largest accepted request body. */
        bodyLimitBytes: Type.Integer({ minimum: 1024, default: 8 * 1024 * 1024 }),
        /** PEM files: the master serves https/wss on `port` (re-read on SIGHUP); `picluster tls init` makes them. */
        tls: Type.Optional(Type.Object({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
        /** With `tls`: the plain-HTTP port that serves `/boot/*` only (firmware, iPXE and GRUB fetch without TLS). */
        bootPort: Type.Integer({ minimum: 0, maximum: 65535, default: 8081 }),
      },
      { default: {}, additionalProperties: false },
    ),
    auth: Type.Object(
      {
        /** Admin bearer token; generated into `<dataDir>/admin-token` (0600) on first start when absent. */
        adminToken: Type.Optional(Type.String({ minLength: 16 })),
        /** Read-only bearer token for the UI/API; optional. */
        viewerToken: Type.Optional(Type.String({ minLength: 16 })),
        /** When set, `/metrics` requires `Authorization: Bearer <metricsToken>`. */
        metricsToken: Type.Optional(Type.String({ minLength: 8 })),
      },
      { default: {}, additionalProperties: false },
    ),
    cluster: Type.Object(
      {
        /** Secret node tokens are derived from; generated into `<dataDir>/cluster-secret` when absent. */
        secret: Type.Optional(Type.String({ minLength: 16 })),
      },
      { default: {}, additionalProperties: false },
    ),
    scheduler: Type.Object(
      {
        strategy: Strategy,
        heartbeatMs: Type.Integer({ minimum: 50, default: 2000 }),
        /** A node is lost after this many heartbeat intervals without one. */
        missedHeartbeats: Type.Integer({ minimum: 1, default: 3 }),
        /** After a master restart, how long running attempts wait for their agent to reconnect. */
        // Longer than the agent's reconnect backoff cap (10 s), or reconnecting agents lose their jobs.
        restartGraceMs: Type.Integer({ minimum: 0, default: 30_000 }),
        defaultRetries: Type.Integer({ minimum: 0, maximum: 100, default: 3 }),
        retryBackoffMs: Type.Integer({ minimum: 0, default: 1000 }),
        retryBackoffMaxMs: Type.Integer({ minimum: 0, default: 60_000 }),
        /** Per-stream bound on captured stdout/stderr of one attempt (the tail is kept). */
        outputLimitBytes: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
        /** Health-aware placement (dispatcher/domain/health.ts): hot, throttled or undervolted nodes are derated or skipped. */
        health: Type.Object(
          {
            warmTemperatureC: Type.Number({ default: 70 }),
            warmDerate: Type.Number({ minimum: 1, default: 1.25 }),
            hotTemperatureC: Type.Number({ default: 80 }),
            hotDerate: Type.Number({ minimum: 1, default: 2 }),
            /** Clock capped, throttled or at the soft temperature limit now (get_throttled bits 1–3). */
            throttledDerate: Type.Number({ minimum: 1, default: 1.5 }),
            /** Under-voltage now (get_throttled bit 0); does not compound with throttledDerate. */
            underVoltageDerate: Type.Number({ minimum: 1, default: 1.5 }),
            /** At or above this the node gets no new jobs; absent = never skipped for heat. */
            skipAboveTemperatureC: Type.Optional(Type.Number()),
            /** Under-voltage now = no new jobs. */
            skipWhenUnderVoltage: Type.Boolean({ default: false }),
            /** A temperature level is left only this far below its threshold (no event flapping). */
            hysteresisC: Type.Number({ minimum: 0, default: 2 }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    recovery: Type.Object(
      {
        /** Automatic recovery of lost nodes (maintenance nodes are never recovered automatically). */
        enabled: Type.Boolean({ default: true }),
        /** Wait this long after a node is lost before acting. */
        graceMs: Type.Integer({ minimum: 0, default: 10_000 }),
        /** After an agent reboot, how long to wait for the node's hello. */
        rebootTimeoutMs: Type.Integer({ minimum: 1000, default: 120_000 }),
        /** After a power cycle, how long to wait for its boot (DHCP) and then its hello. */
        bootTimeoutMs: Type.Integer({ minimum: 1000, default: 180_000 }),
        /** Expect a DHCP/TFTP boot event after a cycle; default: when netboot is enabled. */
        expectBootEvent: Type.Optional(Type.Boolean()),
        /** Failed power cycles within `windowMs` before the node is quarantined. */
        maxCycles: Type.Integer({ minimum: 1, default: 3 }),
        windowMs: Type.Integer({ minimum: 1000, default: 3_600_000 }),
        /** A job whose attempts died with their node this many times is failed, not retried (0 = off). */
        poisonAfterNodeLosses: Type.Integer({ minimum: 0, default: 3 }),
        /** Circuit breaker: stop automatic cycling when this fraction of nodes is lost at once. */
        breakerFraction: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.5 }),
        breakerMinNodes: Type.Integer({ minimum: 1, default: 2 }),
      },
      { default: {}, additionalProperties: false },
    ),
    power: Type.Object(
      {
        /** Power operations running at once, cluster-wide. */
        maxConcurrent: Type.Integer({ minimum: 1, default: 2 }),
        /** Minimum gap between two power-ons (inrush, TFTP storm). */
        staggerMs: Type.Integer({ minimum: 0, default: 2000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    store: Type.Object(
      {
        /**
         * The engine: `sqlite` (default: `<dataDir>/picluster.db`, embedded) or `postgres` (`store.url`;
         * the store passes the same conformance suite; the master itself refuses it until the
         * dispatcher runs on the asynchronous contract — dispatcher/store/README.md).
         */
        kind: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], { default: 'sqlite' }),
        /** `postgres://user[:password]@host[:port]/database` (kind `postgres` only); env PICLUSTER_STORE__URL. The password is redacted in logs. */
        url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
        /** Boot events, node events, stale-result records and resolved alerts are kept this many days. */
        historyDays: Type.Integer({ minimum: 1, default: 30 }),
        /** Finished jobs (with attempts, output, artifacts) are kept this many days; unset: `historyDays`. Pruned at start, hourly, and by `picluster prune`. */
        jobHistoryDays: Type.Optional(Type.Integer({ minimum: 1 })),
        /**
         * SQLite `synchronous`: `full` (default) syncs the WAL before a commit returns, so what was
         * acknowledged survives power loss too; `normal` survives process crashes only (faster;
         * docs/RELIABILITY.md has both measured).
         */
        synchronous: Type.Union([Type.Literal('normal'), Type.Literal('full')], { default: 'full' }),
      },
      { default: {}, additionalProperties: false },
    ),
    /** Input files and job artifacts (docs/files.md), stored content-addressed under `<dataDir>/files`. */
    files: Type.Object(
      {
        /** Largest accepted `POST /api/files` upload; bigger ones get 413 FILE_TOO_LARGE. */
        maxUploadBytes: Type.Integer({ minimum: 1, default: 256 * 1024 * 1024 }),
        /** Largest accepted artifact upload from an agent (`POST /api/artifacts`). */
        maxArtifactBytes: Type.Integer({ minimum: 1, default: 256 * 1024 * 1024 }),
      },
      { default: {}, additionalProperties: false },
    ),
    inventory: Type.Object(
      {
        /** Path to nodes.yaml; absent file = no inventory nodes (agents with valid tokens still join). */
        path: Type.String({ minLength: 1, default: 'inventory/nodes.yaml' }),
      },
      { default: {}, additionalProperties: false },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          [
            Type.Literal('fatal'),
            Type.Literal('error'),
            Type.Literal('warn'),
            Type.Literal('info'),
            Type.Literal('debug'),
            Type.Literal('trace'),
            Type.Literal('silent'),
          ],
          { default: 'info' },
        ),
        /** `auto`: pretty one-line output on a terminal, JSON otherwise (journald, pipes); `--log-format` overrides. */
        format: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], { default: 'auto' }),
      },
      { default: {}, additionalProperties: false },
    ),
    netboot: NetbootConfigSchema,
    /** What `picluster build-image` adds to the image (image/config.ts). */
    image: ImageConfigSchema,
    limits: LimitsConfigSchema,
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;

export class ConfigFileError extends PiclusterError {
  readonly code = 'CONFIG_FILE';
}

export interface ConfigSources {
  /** Path of the YAML file; a missing file is an error only when `required`. */
  readonly file?: string;
  /** The YAML text itself (instead of reading `file`, which then only names it in errors): tests and the fuzzer. */
  readonly text?: string;
  readonly required?: boolean;
  /** Environment (defaults to nothing: callers pass `process.env` explicitly). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Programmatic overrides applied last (tests, CLI flags). */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** Well-known short env names; any other `PICLUSTER_A__B_C` maps to `a.bC`. */
const ENV_ALIASES: Readonly<Record<string, string>> = {
  PICLUSTER_DATA_DIR: 'dataDir',
  PICLUSTER_HTTP_PORT: 'http.port',
  PICLUSTER_HTTP_HOST: 'http.host',
  PICLUSTER_PUBLIC_URL: 'http.publicUrl',
  PICLUSTER_HTTP_BOOT_PORT: 'http.bootPort',
  PICLUSTER_ADMIN_TOKEN: 'auth.adminToken',
  PICLUSTER_VIEWER_TOKEN: 'auth.viewerToken',
  PICLUSTER_METRICS_TOKEN: 'auth.metricsToken',
  PICLUSTER_CLUSTER_SECRET: 'cluster.secret',
  PICLUSTER_LOG_LEVEL: 'log.level',
  PICLUSTER_LOG_FORMAT: 'log.format',
  PICLUSTER_STRATEGY: 'scheduler.strategy',
  PICLUSTER_INVENTORY: 'inventory.path',
};
/** Env names that are not master config keys: the config path, and the agent's and client's own settings. */
const ENV_IGNORED = new Set(['PICLUSTER_CONFIG', 'PICLUSTER_URL', 'PICLUSTER_TOKEN', 'PICLUSTER_CA', 'PICLUSTER_PIN', 'PICLUSTER_IMAGE_VERSION']);
const ENV_IGNORED_PREFIXES = ['PICLUSTER_AGENT_', 'PICLUSTER_TEST_', 'PICLUSTER_E2E_', 'PICLUSTER_BENCH_'];

const camel = (s: string): string => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function envPath(name: string): string | undefined {
  if (ENV_ALIASES[name]) return ENV_ALIASES[name];
  if (ENV_IGNORED.has(name) || !name.startsWith('PICLUSTER_') || ENV_IGNORED_PREFIXES.some((p) => name.startsWith(p))) return undefined;
  return name.slice('PICLUSTER_'.length).split('__').map(camel).join('.');
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = target;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

/** Env values are strings; make numbers/booleans of them where they look like it (the schema decides). */
function envValue(raw: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  return raw;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** Validates any value against a schema with defaults; throws one ValidationError listing every problem. */
export function validateWithDefaults<S extends TSchema>(what: string, schema: S, input: unknown): Static<S> {
  const { value, problems } = checkWithDefaults(schema, input);
  if (problems.length) throw new ValidationError(what, problems);
  return value;
}

/** Fills defaults and lists schema problems without throwing (callers add their own checks). */
export function checkWithDefaults<S extends TSchema>(schema: S, input: unknown): { value: Static<S>; problems: Problem[] } {
  const value = Value.Default(schema, Value.Clone(input ?? {}));
  const problems: Problem[] = [...Value.Errors(schema, value)].map((e) => ({ path: toDotted(e.path), message: e.message }));
  return { value: value as Static<S>, problems: dedupe(problems) };
}

/** JSON pointer `/nodes/3/mac` → `nodes[3].mac`. */
export function toDotted(pointer: string): string {
  return pointer
    .replace(/^\//, '')
    .replace(/\/(\d+)(?=\/|$)/g, '[$1]')
    .replace(/\//g, '.');
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  // TypeBox reports a union mismatch once per branch; keep the first per path.
  return problems.filter((p) => (seen.has(p.path) ? false : (seen.add(p.path), true)));
}

export function loadConfig(sources: ConfigSources = {}): Config {
  let fromFile: Record<string, unknown> = {};
  if (sources.file || sources.text !== undefined) {
    let text: string | undefined = sources.text;
    try {
      if (text === undefined && sources.file) text = readFileSync(sources.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || sources.required) {
        throw new ConfigFileError(`cannot read config file ${sources.file}: ${(e as Error).message}`, { cause: e });
      }
    }
    if (text !== undefined) {
      try {
        const parsed: unknown = parseYaml(text, { logLevel: 'error' });
        if (parsed !== null && parsed !== undefined) {
          if (typeof parsed !== 'object' || Array.isArray(parsed)) {
            throw new ConfigFileError(`config file ${sources.file} must hold a mapping at the top level`);
          }
          fromFile = parsed as Record<string, unknown>;
        }
      } catch (e) {
        if (e instanceof ConfigFileError) throw e;
        throw new ConfigFileError(`config file ${sources.file} is not valid YAML: ${(e as Error).message}`, { cause: e });
      }
    }
  }
  const merged = structuredClone(fromFile);
  const problems: Problem[] = [];
  for (const [name, raw] of Object.entries(sources.env ?? {})) {
    if (raw === undefined) continue;
    const path = envPath(name);
    if (path === undefined) continue;
    if (!path || path.split('.').some((k) => !k)) {
      problems.push({ path: name, message: 'cannot be mapped to a config key' });
      continue;
    }
    setPath(merged, path, envValue(raw));
  }
  for (const [path, value] of Object.entries(sources.overrides ?? {})) setPath(merged, path, value);
  try {
    const config = validateWithDefaults(sources.file ? `invalid configuration (${sources.file})` : 'invalid configuration', ConfigSchema, merged);
    if (config.store.kind === 'postgres' && config.store.url === undefined)
      problems.push({ path: 'store.url', message: 'is required with store.kind: postgres' });
    if (config.store.kind !== 'postgres' && config.store.url !== undefined)
      problems.push({ path: 'store.url', message: 'is only used with store.kind: postgres' });
    if (problems.length) throw new ValidationError('invalid configuration', problems);
    return deepFreeze(config);
  } catch (e) {
    if (e instanceof ValidationError && problems.length && !e.problems.some((p) => problems.includes(p))) {
      throw new ValidationError('invalid configuration', [...problems, ...e.problems]);
    }
    throw e;
  }
}

const SECRET_KEYS = /token|secret|password|community|authKey|privKey/i;

/** The effective config with every secret replaced, for logging and `GET /api/config`. */
export function redactConfig(config: unknown): unknown {
  if (Array.isArray(config)) return config.map(redactConfig);
  if (config && typeof config === 'object') {
    return Object.fromEntries(
      Object.entries(config).map(([k, v]) => [
        k,
        SECRET_KEYS.test(k) && v !== undefined && typeof v !== 'object'
          ? '[redacted]'
          : k === 'url' && typeof v === 'string'
            ? v.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:[redacted]@')
            : redactConfig(v),
      ]),
    );
  }
  return config;
}
