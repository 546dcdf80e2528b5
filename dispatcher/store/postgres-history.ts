/**
 * The history half of the PostgreSQL store (node and boot events, the power journal, alerts, retention):
 * PostgresStore extends it and supplies the connection (`db`: the pool or a transaction's client) and `atomic`.
 */
import type pg from 'pg';
import type { BootEvent } from '../../netboot/boot-event.ts';
import type { NodeEvent } from '../domain/nodes.ts';
import { pgArtifactsNamed, pgPruneFinishedJobs } from './postgres-retention.ts';
import { toAlert, toNodeEvent, toPowerOp, type AlertRow, type NodeEventRow, type PowerOpRow } from './rows.ts';
import { clampLimit, type Alert, type BootEventQuery, type PowerOp, type PowerOpAction, type PowerOpState, type PrunedJobs } from './store.ts';

/** What runs a query: the pool, or the one client of an open transaction. */
export interface PgQueryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * PostgreSQL's TEXT cannot hold NUL (error 22021); SQLite's can. A NUL in a string parameter (an
 * agent's error text becoming a job's reason, a job's name or group) is stored as U+FFFD instead
 * of failing the statement, and with it a whole pump's commit (every result and submit in it, and
 * again each time the agent resends). JSON text never holds a raw NUL (JSON.stringify escapes it).
 */
export function nulSafe(db: PgQueryable): PgQueryable {
  const clean = (v: unknown): unknown => (typeof v === 'string' ? (v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v) : Array.isArray(v) ? v.map(clean) : v);
  return { query: <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => db.query<R>(text, values?.map(clean)) };
}

export abstract class PostgresHistory {
  protected abstract readonly db: PgQueryable;
  /** Runs `fn` inside one transaction, with a view bound to its client. */
  protected abstract atomic<T>(fn: (tx: this) => Promise<T>): Promise<T>;

  protected async rows<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]> {
    return (await this.db.query<R>(sql, values)).rows;
  }
  protected async changes(sql: string, values?: unknown[]): Promise<number> {
    return (await this.db.query(sql, values)).rowCount ?? 0;
  }

  async addNodeEvent(e: NodeEvent): Promise<void> {
    await this.db.query('INSERT INTO node_events (node, at, kind, message, actor, from_state, to_state) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      e.node,
      e.at,
      e.kind,
      e.message,
      e.actor,
      e.from ?? null,
      e.to ?? null,
    ]);
  }
  async listNodeEvents(node: string, limit?: number): Promise<NodeEvent[]> {
    return (await this.rows<NodeEventRow>('SELECT * FROM node_events WHERE node = $1 ORDER BY id DESC LIMIT $2', [node, clampLimit(limit)])).map(toNodeEvent);
  }

  async addBootEvent(e: BootEvent): Promise<void> {
    await this.db.query('INSERT INTO boot_events (at, kind, mac, serial, node, event) VALUES ($1, $2, $3, $4, $5, $6)', [
      e.at,
      e.kind,
      e.mac ?? null,
      e.serial ?? null,
      e.node ?? null,
      JSON.stringify(e),
    ]);
  }
  async listBootEvents(q: BootEventQuery): Promise<(BootEvent & { id: number })[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    for (const k of ['node', 'mac', 'serial'] as const) {
      if (q[k] === undefined) continue;
      args.push(q[k]);
      where.push(`${k} = $${args.length}`);
    }
    args.push(clampLimit(q.limit));
    const sql = `SELECT id, event FROM boot_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${args.length}`;
    return (await this.rows<{ id: number; event: string }>(sql, args)).map((r) => ({ ...JSON.parse(r.event), id: r.id }));
  }

  async insertPowerOp(op: { node: string; driver: string; action: PowerOpAction; actor: string; at: number }): Promise<PowerOp> {
    const [r] = await this.rows<{ id: number }>(
      "INSERT INTO power_ops (node, driver, action, state, actor, requested_at) VALUES ($1, $2, $3, 'pending', $4, $5) RETURNING id",
      [op.node, op.driver, op.action, op.actor, op.at],
    );
    return { id: r!.id, node: op.node, driver: op.driver, action: op.action, state: 'pending', actor: op.actor, requestedAt: op.at };
  }
  async completePowerOp(id: number, end: { state: Exclude<PowerOpState, 'pending'>; at: number; verified: boolean; detail?: string }): Promise<void> {
    await this.db.query("UPDATE power_ops SET state = $1, completed_at = $2, verified = $3, detail = $4 WHERE id = $5 AND state = 'pending'", [
      end.state,
      end.at,
      end.verified ? 1 : 0,
      end.detail ?? null,
      id,
    ]);
  }
  async unfinishedPowerOps(): Promise<PowerOp[]> {
    return (await this.rows<PowerOpRow>("SELECT * FROM power_ops WHERE state = 'pending' ORDER BY id")).map(toPowerOp);
  }
  async listPowerOps(q: { node?: string; limit?: number }): Promise<PowerOp[]> {
    const rows =
      q.node === undefined
        ? await this.rows<PowerOpRow>('SELECT * FROM power_ops ORDER BY id DESC LIMIT $1', [clampLimit(q.limit)])
        : await this.rows<PowerOpRow>('SELECT * FROM power_ops WHERE node = $1 ORDER BY id DESC LIMIT $2', [q.node, clampLimit(q.limit)]);
    return rows.map(toPowerOp);
  }

  async raiseAlert(a: { kind: string; node?: string; severity: Alert['severity']; message: string; at: number }): Promise<Alert> {
    return this.atomic(async (s) => {
      // The partial unique index keeps one open alert per kind and node; a concurrent raise inserts nothing.
      const inserted = await s.rows<AlertRow>(
        `INSERT INTO alerts (kind, node, severity, message, raised_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (kind, COALESCE(node, '')) WHERE resolved_at IS NULL DO NOTHING RETURNING *`,
        [a.kind, a.node ?? null, a.severity, a.message, a.at],
      );
      const row =
        inserted[0] ??
        (
          await s.rows<AlertRow>('SELECT * FROM alerts WHERE kind = $1 AND node IS NOT DISTINCT FROM $2::text AND resolved_at IS NULL', [
            a.kind,
            a.node ?? null,
          ])
        )[0];
      return toAlert(row!);
    });
  }
  async resolveAlert(kind: string, node: string | undefined, at: number): Promise<boolean> {
    return (
      (await this.changes('UPDATE alerts SET resolved_at = $1 WHERE kind = $2 AND node IS NOT DISTINCT FROM $3::text AND resolved_at IS NULL', [
        at,
        kind,
        node ?? null,
      ])) > 0
    );
  }
  async listAlerts(q: { open?: boolean; limit?: number }): Promise<Alert[]> {
    const where = q.open === undefined ? '' : q.open ? 'WHERE resolved_at IS NULL' : 'WHERE resolved_at IS NOT NULL';
    return (await this.rows<AlertRow>(`SELECT * FROM alerts ${where} ORDER BY id DESC LIMIT $1`, [clampLimit(q.limit)])).map(toAlert);
  }

  async pruneHistory(before: number): Promise<number> {
    return this.atomic(async (s) => {
      let n = await s.changes('DELETE FROM boot_events WHERE at < $1', [before]);
      n += await s.changes('DELETE FROM node_events WHERE at < $1', [before]);
      n += await s.changes('DELETE FROM stale_results WHERE received_at < $1', [before]);
      return n + (await s.changes('DELETE FROM alerts WHERE resolved_at IS NOT NULL AND resolved_at < $1', [before]));
    });
  }
  async pruneFinishedJobs(before: number, limit: number): Promise<PrunedJobs> {
    return this.atomic(async (s) => pgPruneFinishedJobs(s.db, before, limit));
  }
  async artifactsNamed(shas: ReadonlySet<string>, afterId: number, limit: number): Promise<{ named: string[]; lastId: number }> {
    return pgArtifactsNamed(this.db, shas, afterId, limit);
  }
  async capHistory(caps: { bootEvents: number; nodeEvents: number }): Promise<number> {
    const cap = (s: this, table: string, keep: number) =>
      s.changes(`DELETE FROM ${table} WHERE id <= (SELECT id FROM ${table} ORDER BY id DESC LIMIT 1 OFFSET $1)`, [Math.max(0, keep)]);
    return this.atomic(async (s) => (await cap(s, 'boot_events', caps.bootEvents)) + (await cap(s, 'node_events', caps.nodeEvents)));
  }
}
