/**
 * `limits:` — the bounds that keep hostile or runaway input from costing the master unbounded
 * disk, memory or CPU (docs/security.md). Every key has a default; all are optional in YAML.
 */
import { Type, type Static } from '@sinclair/typebox';

export const LimitsConfigSchema = Type.Object(
  {
    /** Unauthenticated endpoints (`/boot/*`, `/health`, `/agent` upgrades): requests per second per client address… */
    rateLimitPerSecond: Type.Number({ exclusiveMinimum: 0, maximum: 100_000, default: 20 }),
    /** …with bursts up to this many (a PXE client fetches a handful of files at once). Over it: 429. */
    rateLimitBurst: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 200 }),
    /** Client addresses tracked by the rate limiter at once (least recently seen forgotten first). */
    rateLimitClients: Type.Integer({ minimum: 16, maximum: 1_000_000, default: 4096 }),
    /** Boot events with the same client, kind, file and outcome within this window are stored once. */
    bootEventCoalesceMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 10_000 }),
    /** Rows kept in the boot-event and node-event tables (oldest deleted first), besides `store.historyDays`. */
    maxBootEvents: Type.Integer({ minimum: 100, maximum: 100_000_000, default: 100_000 }),
    maxNodeEvents: Type.Integer({ minimum: 100, maximum: 100_000_000, default: 100_000 }),
    /** Enrollment records at most this many pending-approval nodes; more unknown PXE clients are ignored (counted). */
    maxPendingNodes: Type.Integer({ minimum: 0, maximum: 100_000, default: 32 }),
    /** Below this much free space in the data directory the disk is "full": submissions get 507, an alert is raised. */
    minFreeDiskBytes: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 64 * 1024 * 1024 }),
    /** How often the free space is read (also at once when the store refuses a write). */
    diskCheckMs: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 5000 }),
    /** Slots of a node neither the inventory nor an admin sized: its agent's CPU count, at most this. */
    unconfiguredSlotsCap: Type.Integer({ minimum: 1, maximum: 1024, default: 4 }),
  },
  { default: {}, additionalProperties: false },
);
export type LimitsConfig = Static<typeof LimitsConfigSchema>;
