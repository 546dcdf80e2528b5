/**
 * Numbered migrations, applied in order inside one transaction each; `PRAGMA user_version`
 * records the last one applied. Never edit a released migration: add the next number.
 */
export const MIGRATIONS: readonly { readonly version: number; readonly name: string; readonly sql: string }[] = [
  {
    version: 1,
    name: 'jobs, attempts, nodes, events',
    sql: `
      CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT,
        spec TEXT NOT NULL,
        priority INTEGER NOT NULL,
        grp TEXT NOT NULL,
        retries INTEGER NOT NULL,
        timeout_ms INTEGER,
        requirements TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
        attempts INTEGER NOT NULL DEFAULT 0,
        submitted_at INTEGER NOT NULL,
        available_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        current_attempt_id INTEGER,
        last_attempt_id INTEGER,
        node TEXT,
        reason TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX jobs_state ON jobs(state, id);
      CREATE INDEX jobs_group ON jobs(grp, id);
      CREATE INDEX jobs_node ON jobs(node, id);

      -- AUTOINCREMENT: attempt ids are fencing tokens and must never be reused.
      CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        node TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        reason TEXT,
        result TEXT
      );
      CREATE INDEX attempts_job ON attempts(job_id, id);
      CREATE INDEX attempts_running ON attempts(state) WHERE state = 'running';

      CREATE TABLE stale_results (
        id INTEGER PRIMARY KEY,
        attempt_id INTEGER NOT NULL,
        job_id INTEGER,
        node TEXT,
        reason TEXT NOT NULL,
        received_at INTEGER NOT NULL
      );

      CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        record TEXT NOT NULL
      );

      CREATE TABLE node_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        node TEXT NOT NULL,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        actor TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT
      );
      CREATE INDEX node_events_node ON node_events(node, id);

      CREATE TABLE boot_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        mac TEXT,
        serial TEXT,
        node TEXT,
        event TEXT NOT NULL
      );
      CREATE INDEX boot_events_node ON boot_events(node, id);
      CREATE INDEX boot_events_mac ON boot_events(mac, id);
      CREATE INDEX boot_events_serial ON boot_events(serial, id);

      CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'power journal, alerts, poison-job counter',
    sql: `
      ALTER TABLE jobs ADD COLUMN node_losses INTEGER NOT NULL DEFAULT 0;

      CREATE TABLE power_ops (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        node TEXT NOT NULL,
        driver TEXT NOT NULL,
        action TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending','succeeded','failed','reconciled')),
        actor TEXT NOT NULL,
        requested_at INTEGER NOT NULL,
        completed_at INTEGER,
        verified INTEGER,
        detail TEXT
      );
      CREATE INDEX power_ops_pending ON power_ops(state) WHERE state = 'pending';
      CREATE INDEX power_ops_node ON power_ops(node, id);

      CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        node TEXT,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        raised_at INTEGER NOT NULL,
        resolved_at INTEGER
      );
      CREATE INDEX alerts_open ON alerts(kind, node) WHERE resolved_at IS NULL;
    `,
  },
  {
    version: 3,
    name: 'abandoned attempts do not count toward retries',
    sql: `ALTER TABLE jobs ADD COLUMN abandons INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 4,
    name: 'which attempt ends a job retries (retryOn; NULL = the default)',
    sql: `ALTER TABLE jobs ADD COLUMN retry_on TEXT;`,
  },
  {
    version: 5,
    name: 'removed nodes in their own table (was a JSON list in meta.removed-nodes)',
    sql: `
      CREATE TABLE removed_nodes (
        name TEXT PRIMARY KEY,
        removed_at INTEGER NOT NULL
      );
      INSERT OR IGNORE INTO removed_nodes (name, removed_at)
        SELECT value, 0 FROM json_each(COALESCE((SELECT value FROM meta WHERE key = 'removed-nodes'), '[]'));
      DELETE FROM meta WHERE key = 'removed-nodes';
    `,
  },
];
