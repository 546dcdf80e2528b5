/**
 * SQLite store (better-sqlite3, WAL). `synchronous=FULL` (default) syncs the WAL before each
 * commit returns: nothing acknowledged is lost on power loss (test/power-loss). `normal` skips
 * that fsync: a process crash loses nothing, a power loss may lose the last commits.
 * All statements are prepared once.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreError } from './errors.ts';
import type { BootEvent } from '../../netboot/boot-event.ts';
import type { Attempt, Job, JobState, NewJob } from '../domain/jobs.ts';
import { artifactsNamed, pruneFinishedJobs } from './sqlite-retention.ts';
import type { NodeEvent, NodeRecord } from '../domain/nodes.ts';
import { JobInserter } from './sqlite-insert.ts';
import { MIGRATIONS } from './migrations.ts';
import { toAlert, toAttempt, toJob, toNodeEvent, toPowerOp, type AlertRow, type AttemptRow, type JobRow, type NodeEventRow, type PowerOpRow } from './rows.ts';
import {
  clampLimit,
  emptyCounts,
  type Alert,
  type AttemptEnd,
  type BootEventQuery,
  type JobQuery,
  type PowerOp,
  type PowerOpAction,
  type PowerOpState,
  type PrunedJobs,
  type StaleResult,
  type Store,
} from './store.ts';

export interface SqliteStoreOptions {
  readonly synchronous?: 'normal' | 'full';
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly s;
  private readonly inserter: JobInserter;

  /** `path` of the database file, or `:memory:`. */
  constructor(
    readonly path: string,
    options: SqliteStoreOptions = {},
  ) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    try {
      this.db = new Database(path);
    } catch (e) {
      throw new StoreError(`cannot open database ${path}: ${(e as Error).message}`, { cause: e });
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    const p = (sql: string) => this.db.prepare(sql);
    this.inserter = new JobInserter(this.db);
    this.s = {
      getJob: p('SELECT * FROM jobs WHERE id = ?'),
      countByState: p('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state'),
      queued: p("SELECT * FROM jobs WHERE state = 'queued' ORDER BY id"),
      insertAttempt: p("INSERT INTO attempts (job_id, node, state, started_at) VALUES (?, ?, 'running', ?)"),
      deleteAttempt: p('DELETE FROM attempts WHERE id = ?'),
      // The hot path's statements take positional parameters (binding by name costs ~1 µs a statement).
      startJob: p(`UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, ?),
                   current_attempt_id = ?, last_attempt_id = ?, node = ? WHERE id = ? AND state = 'queued'`),
      endAttempt: p("UPDATE attempts SET state = ?, ended_at = ?, reason = ?, result = ? WHERE id = ? AND state = 'running'"),
      requeueJob:
        p(`UPDATE jobs SET state = 'queued', current_attempt_id = NULL, available_at = ?, reason = ?, node_losses = node_losses + ?, abandons = abandons + ?
                     WHERE id = ? AND state = 'running' AND current_attempt_id = ?`),
      finishJob:
        p(`UPDATE jobs SET state = ?, current_attempt_id = NULL, finished_at = ?, reason = COALESCE(?, reason), node_losses = node_losses + ?, abandons = abandons + ?
                    WHERE id = ? AND state = 'running' AND current_attempt_id = ?`),
      insertPowerOp: p("INSERT INTO power_ops (node, driver, action, state, actor, requested_at) VALUES (?, ?, ?, 'pending', ?, ?)"),
      completePowerOp: p("UPDATE power_ops SET state = ?, completed_at = ?, verified = ?, detail = ? WHERE id = ? AND state = 'pending'"),
      pendingPowerOps: p("SELECT * FROM power_ops WHERE state = 'pending' ORDER BY id"),
      openAlert: p('SELECT * FROM alerts WHERE kind = ? AND node IS ? AND resolved_at IS NULL'),
      insertAlert: p('INSERT INTO alerts (kind, node, severity, message, raised_at) VALUES (?, ?, ?, ?, ?)'),
      resolveAlert: p('UPDATE alerts SET resolved_at = ? WHERE kind = ? AND node IS ? AND resolved_at IS NULL'),
      getAttempt: p('SELECT * FROM attempts WHERE id = ?'),
      attemptsOf: p('SELECT * FROM attempts WHERE job_id = ? ORDER BY id'),
      running: p("SELECT * FROM attempts WHERE state = 'running' ORDER BY id"),
      cancelQueued: p("UPDATE jobs SET state = 'cancelled', finished_at = ?, reason = ?, cancel_requested = 1 WHERE id = ? AND state = 'queued'"),
      markCancel: p("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'"),
      insertStale: p('INSERT INTO stale_results (attempt_id, job_id, node, reason, received_at) VALUES (?, ?, ?, ?, ?)'),
      countStale: p('SELECT COUNT(*) AS n FROM stale_results'),
      saveNode: p('INSERT INTO nodes (name, record) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET record = excluded.record'),
      getNode: p('SELECT record FROM nodes WHERE name = ?'),
      listNodes: p('SELECT record FROM nodes ORDER BY name'),
      deleteNode: p('DELETE FROM nodes WHERE name = ?'),
      addNodeEvent: p('INSERT INTO node_events (node, at, kind, message, actor, from_state, to_state) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      listNodeEvents: p('SELECT * FROM node_events WHERE node = ? ORDER BY id DESC LIMIT ?'),
      addBootEvent: p('INSERT INTO boot_events (at, kind, mac, serial, node, event) VALUES (?, ?, ?, ?, ?, ?)'),
      markRemoved: p('INSERT INTO removed_nodes (name, removed_at) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET removed_at = excluded.removed_at'),
      unmarkRemoved: p('DELETE FROM removed_nodes WHERE name = ?'),
      isRemoved: p('SELECT 1 AS x FROM removed_nodes WHERE name = ?'),
      listRemoved: p('SELECT name FROM removed_nodes ORDER BY name'),
      getMeta: p('SELECT value FROM meta WHERE key = ?'),
      setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    };
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (current > latest) {
      throw new StoreError(`database ${this.path} is at schema version ${current}, newer than this picluster knows (${latest}); upgrade picluster`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  transaction<T>(fn: () => T): T {
    return this.db.inTransaction ? fn() : this.db.transaction(fn)();
  }

  /** A transaction held open across awaits (the async adapter's `transaction`). */
  /** The adapter's transaction (one per pump): prepared once, as better-sqlite3's own `transaction()` does (`exec` parses each time). */
  private txStatements?: { begin: Database.Statement; commit: Database.Statement; rollback: Database.Statement };
  private get tx() {
    return (this.txStatements ??= { begin: this.db.prepare('BEGIN IMMEDIATE'), commit: this.db.prepare('COMMIT'), rollback: this.db.prepare('ROLLBACK') });
  }
  readonly manual = {
    begin: () => this.tx.begin.run(),
    commit: () => this.tx.commit.run(),
    rollback: () => this.db.inTransaction && this.tx.rollback.run(),
  };

  insertJobs(jobs: readonly NewJob[], now: number): Job[] {
    return this.transaction(() => this.inserter.insert(jobs, now));
  }

  getJob(id: number): Job | undefined {
    const r = this.s.getJob.get(id) as JobRow | undefined;
    return r && toJob(r);
  }

  listJobs(q: JobQuery): { jobs: Job[]; total: number } {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.state !== undefined) {
      const states = Array.isArray(q.state) ? q.state : [q.state];
      where.push(`state IN (${states.map(() => '?').join(',')})`);
      args.push(...states);
    }
    if (q.group !== undefined) {
      where.push('grp = ?');
      args.push(q.group);
    }
    if (q.node !== undefined) {
      where.push('node = ?');
      args.push(q.node);
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs ${w}`).get(...args) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT * FROM jobs ${w} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...args, clampLimit(q.limit), Math.max(0, q.offset ?? 0)) as JobRow[];
    return { jobs: rows.map(toJob), total };
  }

  countJobsByState(): Record<JobState, number> {
    const c = emptyCounts();
    for (const r of this.s.countByState.all() as { state: JobState; n: number }[]) c[r.state] = r.n;
    return c;
  }

  queuedJobs(): Job[] {
    return (this.s.queued.all() as JobRow[]).map(toJob);
  }

  startAttempts(assignments: readonly { jobId: number; node: string }[], now: number): { jobId: number; attempt: Attempt }[] {
    return this.transaction(() => {
      const out: { jobId: number; attempt: Attempt }[] = [];
      for (const { jobId, node } of assignments) {
        // Insert first so the job row can point at the attempt; undone if the job was not queued.
        const attemptId = Number(this.s.insertAttempt.run(jobId, node, now).lastInsertRowid);
        if (this.s.startJob.run(now, attemptId, attemptId, node, jobId).changes !== 1) {
          this.s.deleteAttempt.run(attemptId);
          continue;
        }
        out.push({ jobId, attempt: { id: attemptId, jobId, node, state: 'running', startedAt: now } });
      }
      return out;
    });
  }

  endAttempt(end: AttemptEnd): boolean {
    return this.transaction(() => {
      const lost = end.state === 'node-lost' ? 1 : 0;
      const abandoned = end.state === 'abandoned' ? 1 : 0;
      // The compare-and-set: only the job's current, running attempt may move it.
      const moved =
        end.job.state === 'queued'
          ? this.s.requeueJob.run(end.job.availableAt, end.job.reason, lost, abandoned, end.jobId, end.attemptId)
          : this.s.finishJob.run(end.job.state, end.at, end.job.reason ?? null, lost, abandoned, end.jobId, end.attemptId);
      if (moved.changes !== 1) return false;
      const result = end.result === undefined ? null : JSON.stringify(end.result);
      const ended = this.s.endAttempt.run(end.state, end.at, end.reason ?? null, result, end.attemptId);
      if (ended.changes !== 1) throw new StoreError(`attempt ${end.attemptId} was current for job ${end.jobId} but not running`);
      return true;
    });
  }

  endAttempts(ends: readonly AttemptEnd[]): boolean[] {
    return this.transaction(() => ends.map((end) => this.endAttempt(end)));
  }

  getAttempt(id: number): Attempt | undefined {
    const r = this.s.getAttempt.get(id) as AttemptRow | undefined;
    return r && toAttempt(r);
  }

  listAttempts(jobId: number): Attempt[] {
    return (this.s.attemptsOf.all(jobId) as AttemptRow[]).map(toAttempt);
  }

  runningAttempts(): Attempt[] {
    return (this.s.running.all() as AttemptRow[]).map(toAttempt);
  }

  cancelQueuedJob(id: number, reason: string, now: number): boolean {
    return this.s.cancelQueued.run(now, reason, id).changes === 1;
  }

  markCancelRequested(id: number): boolean {
    return this.s.markCancel.run(id).changes === 1;
  }

  recordStaleResult(s: StaleResult): void {
    this.s.insertStale.run(s.attemptId, s.jobId ?? null, s.node ?? null, s.reason, s.at);
  }

  countStaleResults(): number {
    return (this.s.countStale.get() as { n: number }).n;
  }

  saveNode(node: NodeRecord): void {
    this.s.saveNode.run(node.name, JSON.stringify(node));
  }
  getNode(name: string): NodeRecord | undefined {
    const r = this.s.getNode.get(name) as { record: string } | undefined;
    return r && JSON.parse(r.record);
  }
  listNodes(): NodeRecord[] {
    return (this.s.listNodes.all() as { record: string }[]).map((r) => JSON.parse(r.record));
  }
  deleteNode(name: string): boolean {
    return this.s.deleteNode.run(name).changes === 1;
  }

  addNodeEvent(e: NodeEvent): void {
    this.s.addNodeEvent.run(e.node, e.at, e.kind, e.message, e.actor, e.from ?? null, e.to ?? null);
  }
  listNodeEvents(node: string, limit?: number): NodeEvent[] {
    return (this.s.listNodeEvents.all(node, clampLimit(limit)) as NodeEventRow[]).map(toNodeEvent);
  }

  addBootEvent(e: BootEvent): void {
    this.s.addBootEvent.run(e.at, e.kind, e.mac ?? null, e.serial ?? null, e.node ?? null, JSON.stringify(e));
  }
  listBootEvents(q: BootEventQuery): (BootEvent & { id: number })[] {
    const where: string[] = [];
    const args: unknown[] = [];
    for (const k of ['node', 'mac', 'serial'] as const) {
      if (q[k] !== undefined) {
        where.push(`${k} = ?`);
        args.push(q[k]);
      }
    }
    const rows = this.db
      .prepare(`SELECT id, event FROM boot_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`)
      .all(...args, clampLimit(q.limit)) as { id: number; event: string }[];
    return rows.map((r) => ({ ...JSON.parse(r.event), id: r.id }));
  }

  insertPowerOp(op: { node: string; driver: string; action: PowerOpAction; actor: string; at: number }): PowerOp {
    const id = Number(this.s.insertPowerOp.run(op.node, op.driver, op.action, op.actor, op.at).lastInsertRowid);
    return { id, node: op.node, driver: op.driver, action: op.action, state: 'pending', actor: op.actor, requestedAt: op.at };
  }
  completePowerOp(id: number, end: { state: Exclude<PowerOpState, 'pending'>; at: number; verified: boolean; detail?: string }): void {
    this.s.completePowerOp.run(end.state, end.at, end.verified ? 1 : 0, end.detail ?? null, id);
  }
  unfinishedPowerOps(): PowerOp[] {
    return (this.s.pendingPowerOps.all() as PowerOpRow[]).map(toPowerOp);
  }
  listPowerOps(q: { node?: string; limit?: number }): PowerOp[] {
    const rows = (
      q.node === undefined
        ? this.db.prepare('SELECT * FROM power_ops ORDER BY id DESC LIMIT ?').all(clampLimit(q.limit))
        : this.db.prepare('SELECT * FROM power_ops WHERE node = ? ORDER BY id DESC LIMIT ?').all(q.node, clampLimit(q.limit))
    ) as PowerOpRow[];
    return rows.map(toPowerOp);
  }

  raiseAlert(a: { kind: string; node?: string; severity: Alert['severity']; message: string; at: number }): Alert {
    return this.transaction(() => {
      const open = this.s.openAlert.get(a.kind, a.node ?? null) as AlertRow | undefined;
      if (open) return toAlert(open);
      const id = Number(this.s.insertAlert.run(a.kind, a.node ?? null, a.severity, a.message, a.at).lastInsertRowid);
      return { id, kind: a.kind, ...(a.node !== undefined ? { node: a.node } : {}), severity: a.severity, message: a.message, raisedAt: a.at };
    });
  }
  resolveAlert(kind: string, node: string | undefined, at: number): boolean {
    return this.s.resolveAlert.run(at, kind, node ?? null).changes > 0;
  }
  listAlerts(q: { open?: boolean; limit?: number }): Alert[] {
    const where = q.open === undefined ? '' : q.open ? 'WHERE resolved_at IS NULL' : 'WHERE resolved_at IS NOT NULL';
    return (this.db.prepare(`SELECT * FROM alerts ${where} ORDER BY id DESC LIMIT ?`).all(clampLimit(q.limit)) as AlertRow[]).map(toAlert);
  }

  pruneHistory(before: number): number {
    return this.transaction(
      () =>
        this.db.prepare('DELETE FROM boot_events WHERE at < ?').run(before).changes +
        this.db.prepare('DELETE FROM node_events WHERE at < ?').run(before).changes +
        this.db.prepare('DELETE FROM stale_results WHERE received_at < ?').run(before).changes +
        this.db.prepare('DELETE FROM alerts WHERE resolved_at IS NOT NULL AND resolved_at < ?').run(before).changes,
    );
  }

  pruneFinishedJobs(before: number, limit: number): PrunedJobs {
    return this.transaction(() => pruneFinishedJobs(this.db, before, limit));
  }
  artifactsNamed(shas: ReadonlySet<string>, afterId: number, limit: number): { named: string[]; lastId: number } {
    return artifactsNamed(this.db, shas, afterId, limit);
  }

  capHistory(caps: { bootEvents: number; nodeEvents: number }): number {
    const cap = (table: string, keep: number) =>
      this.db.prepare(`DELETE FROM ${table} WHERE id <= (SELECT id FROM ${table} ORDER BY id DESC LIMIT 1 OFFSET ?)`).run(Math.max(0, keep)).changes;
    return this.transaction(() => cap('boot_events', caps.bootEvents) + cap('node_events', caps.nodeEvents));
  }

  setNodeRemoved(name: string, removed: boolean, at: number): void {
    if (removed) this.s.markRemoved.run(name, at);
    else this.s.unmarkRemoved.run(name);
  }
  isNodeRemoved(name: string): boolean {
    return this.s.isRemoved.get(name) !== undefined;
  }
  listRemovedNodes(): string[] {
    return (this.s.listRemoved.all() as { name: string }[]).map((r) => r.name);
  }

  getMeta(key: string): string | undefined {
    return (this.s.getMeta.get(key) as { value: string } | undefined)?.value;
  }
  setMeta(key: string, value: string): void {
    this.s.setMeta.run(key, value);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
