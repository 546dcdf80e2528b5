/**
 * PostgreSQL schema, as numbered migrations recorded in the `schema_migrations` table (one row per
 * migration applied). Each runs in its own transaction under an advisory lock, so two masters
 * starting at once cannot both apply it. Never edit a released migration: add the next number.
 * Version 1 is the SQLite schema after its migration 5 (same tables and columns; times and ids BIGINT).
 */
import type pg from 'pg';
import { StoreError } from './errors.ts';

export const PG_MIGRATIONS: readonly { readonly version: number; readonly name: string; readonly sql: string }[] = [
  {
    version: 1,
    name: 'jobs, attempts, nodes, removed nodes, events, boot events, power journal, alerts, meta',
    sql: `
      CREATE TABLE jobs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT,
        spec TEXT NOT NULL,
        priority INTEGER NOT NULL,
        grp TEXT NOT NULL,
        retries INTEGER NOT NULL,
        retry_on TEXT,
        timeout_ms BIGINT,
        requirements TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
        attempts INTEGER NOT NULL DEFAULT 0,
        submitted_at BIGINT NOT NULL,
        available_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT,
        current_attempt_id BIGINT,
        last_attempt_id BIGINT,
        node TEXT,
        reason TEXT,
        cancel_requested SMALLINT NOT NULL DEFAULT 0,
        node_losses INTEGER NOT NULL DEFAULT 0,
        abandons INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX jobs_state ON jobs(state, id);
      CREATE INDEX jobs_group ON jobs(grp, id);
      CREATE INDEX jobs_node ON jobs(node, id);

      -- An identity is a sequence: attempt ids are fencing tokens and are never reused.
      CREATE TABLE attempts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id BIGINT NOT NULL REFERENCES jobs(id),
        node TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        reason TEXT,
        result TEXT
      );
      CREATE INDEX attempts_job ON attempts(job_id, id);
      CREATE INDEX attempts_running ON attempts(state) WHERE state = 'running';

      CREATE TABLE stale_results (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        attempt_id BIGINT NOT NULL,
        job_id BIGINT,
        node TEXT,
        reason TEXT NOT NULL,
        received_at BIGINT NOT NULL
      );
      CREATE INDEX stale_results_job ON stale_results(job_id);

      CREATE TABLE nodes (name TEXT PRIMARY KEY, record TEXT NOT NULL);
      CREATE TABLE removed_nodes (name TEXT PRIMARY KEY, removed_at BIGINT NOT NULL);

      CREATE TABLE node_events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        node TEXT NOT NULL,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        actor TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT
      );
      CREATE INDEX node_events_node ON node_events(node, id);

      CREATE TABLE boot_events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        mac TEXT,
        serial TEXT,
        node TEXT,
        event TEXT NOT NULL
      );
      CREATE INDEX boot_events_node ON boot_events(node, id);
      CREATE INDEX boot_events_mac ON boot_events(mac, id);
      CREATE INDEX boot_events_serial ON boot_events(serial, id);

      CREATE TABLE power_ops (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        node TEXT NOT NULL,
        driver TEXT NOT NULL,
        action TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending','succeeded','failed','reconciled')),
        actor TEXT NOT NULL,
        requested_at BIGINT NOT NULL,
        completed_at BIGINT,
        verified SMALLINT,
        detail TEXT
      );
      CREATE INDEX power_ops_pending ON power_ops(state) WHERE state = 'pending';
      CREATE INDEX power_ops_node ON power_ops(node, id);

      CREATE TABLE alerts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL,
        node TEXT,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        raised_at BIGINT NOT NULL,
        resolved_at BIGINT
      );
      -- At most one open alert per kind and node, even with concurrent writers.
      CREATE UNIQUE INDEX alerts_open ON alerts(kind, COALESCE(node, '')) WHERE resolved_at IS NULL;

      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;

/** Applies the migrations not yet recorded; refuses a database from a newer picluster. */
export async function migratePostgres(pool: pg.Pool, where: string): Promise<void> {
  const client = await pool.connect();
  try {
    for (const m of PG_MIGRATIONS) {
      await client.query('BEGIN');
      try {
        await client.query("SELECT pg_advisory_xact_lock(hashtext('picluster-migrations'))");
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
        );
        const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
        const current = rows[0]?.v ?? 0;
        if (current > PG_SCHEMA_VERSION) {
          throw new StoreError(`database ${where} is at schema version ${current}, newer than this picluster knows (${PG_SCHEMA_VERSION}); upgrade picluster`);
        }
        if (m.version > current) {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        }
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
    }
  } finally {
    client.release();
  }
}
