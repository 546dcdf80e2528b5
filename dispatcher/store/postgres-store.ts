/**
 * PostgreSQL store (node-postgres, a Pool). Every multi-statement operation runs in a transaction
 * on one client; `transaction(fn)` hands `fn` a view of the store bound to that client (nested
 * calls join it). A commit returns once PostgreSQL has made it durable (its `synchronous_commit`,
 * on by default). Schema: postgres-migrations.ts; retention: postgres-retention.ts.
 */
import pg from 'pg';
import { queuedJob, type Attempt, type Job, type JobState, type NewJob } from '../domain/jobs.ts';
import type { NodeRecord } from '../domain/nodes.ts';
import { StoreError } from './errors.ts';
import { migratePostgres } from './postgres-migrations.ts';
import { nulSafe, PostgresHistory, type PgQueryable } from './postgres-history.ts';
import { toAttempt, toJob, type AttemptRow, type JobRow } from './rows.ts';
import { clampLimit, emptyCounts, type AsyncStore, type AttemptEnd, type JobQuery, type StaleResult } from './store.ts';

export interface PostgresStoreOptions {
  /** Pool size (default 10). */
  readonly max?: number;
}

// BIGINT (ids, millisecond times, counts) as numbers: every value we store is below 2^53.
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** `postgres://user@host:port/db`, without the password (for messages). */
export const redactUrl = (url: string): string => url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');

/** endAttempts' statement: each row of the batch a compare-and-set (the job, then its attempt), as endAttempt's. */
const END_BATCH = `
  WITH v AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::int[], $11::int[])
      WITH ORDINALITY AS v(job_id, attempt_id, state, at, reason, result, job_state, available_at, job_reason, lost, abandoned, ord)
  ),
  j AS (
    UPDATE jobs SET state = v.job_state, current_attempt_id = NULL,
        available_at = CASE WHEN v.job_state = 'queued' THEN v.available_at ELSE jobs.available_at END,
        finished_at = CASE WHEN v.job_state = 'queued' THEN jobs.finished_at ELSE v.at END,
        reason = CASE WHEN v.job_state = 'queued' THEN v.job_reason ELSE COALESCE(v.job_reason, jobs.reason) END,
        node_losses = jobs.node_losses + v.lost, abandons = jobs.abandons + v.abandoned
      FROM v WHERE jobs.id = v.job_id AND jobs.state = 'running' AND jobs.current_attempt_id = v.attempt_id
      RETURNING v.ord
  ),
  e AS (
    UPDATE attempts SET state = v.state, ended_at = v.at, reason = v.reason, result = v.result
      FROM v WHERE attempts.id = v.attempt_id AND attempts.state = 'running' AND v.ord IN (SELECT ord FROM j)
      RETURNING v.ord
  )
  SELECT (SELECT array_agg(ord) FROM j) AS moved, (SELECT array_agg(ord) FROM e) AS ended`;

export class PostgresStore extends PostgresHistory implements AsyncStore {
  readonly kind = 'postgres';
  private closed = false;

  protected readonly db: PgQueryable;

  private constructor(
    private readonly pool: pg.Pool,
    db: PgQueryable,
    private readonly inTx: boolean,
  ) {
    super();
    this.db = nulSafe(db);
  }

  /** Connects, applies the migrations, and returns the store (StoreError if PostgreSQL cannot be reached). */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, types: TYPES });
    // An idle client losing its connection must not crash the master; the next query reconnects.
    pool.on('error', () => undefined);
    try {
      await migratePostgres(pool, redactUrl(url));
    } catch (e) {
      await pool.end();
      if (e instanceof StoreError) throw e;
      throw new StoreError(`cannot open PostgreSQL database ${redactUrl(url)}: ${(e as Error).message}`, { cause: e });
    }
    return new PostgresStore(pool, pool, false);
  }

  async schemaVersion(): Promise<number> {
    return (await this.rows<{ v: number }>('SELECT max(version) AS v FROM schema_migrations'))[0]!.v;
  }

  transaction<T>(fn: (tx: AsyncStore) => Promise<T>): Promise<T> {
    return this.atomic(fn);
  }

  /** Runs `fn` with a view of this store bound to one client inside BEGIN … COMMIT (ROLLBACK if it rejects). */
  protected async atomic<T>(fn: (tx: this) => Promise<T>): Promise<T> {
    if (this.inTx) return fn(this);
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await fn(new PostgresStore(this.pool, client, true) as this);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch((err: Error) => (broken = err));
      throw e;
    } finally {
      client.release(broken);
    }
  }

  async insertJobs(jobs: readonly NewJob[], now: number): Promise<Job[]> {
    if (!jobs.length) return [];
    return this.atomic(async (s) => {
      const ids: number[] = [];
      // 9 parameters a row: 1000 rows stay far below PostgreSQL's 65535 parameters.
      for (let at = 0; at < jobs.length; at += 1000) {
        const chunk = jobs.slice(at, at + 1000);
        const values: unknown[] = [];
        const tuples = chunk.map((j, i) => {
          values.push(j.name ?? null, JSON.stringify(j.spec), j.priority, j.group, j.retries);
          values.push(j.retryOn ? JSON.stringify(j.retryOn) : null, j.timeoutMs ?? null, JSON.stringify(j.requirements), now);
          const b = i * 9;
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8}, 'queued', $${b + 9}, $${b + 9})`;
        });
        const rows = await s.rows<{ id: number }>(
          `INSERT INTO jobs (name, spec, priority, grp, retries, retry_on, timeout_ms, requirements, state, submitted_at, available_at)
           VALUES ${tuples.join(', ')} RETURNING id`,
          values,
        );
        // Identities are handed out in VALUES order, so ascending ids are the rows in order.
        ids.push(...rows.map((r) => r.id).sort((a, b) => a - b));
      }
      return jobs.map((j, i) => queuedJob(structuredClone(j), ids[i]!, now));
    });
  }

  async getJob(id: number): Promise<Job | undefined> {
    const r = (await this.rows<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]))[0];
    return r && toJob(r);
  }

  async listJobs(q: JobQuery): Promise<{ jobs: Job[]; total: number }> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.state !== undefined) {
      args.push(Array.isArray(q.state) ? q.state : [q.state]);
      where.push(`state = ANY($${args.length}::text[])`);
    }
    if (q.group !== undefined) {
      args.push(q.group);
      where.push(`grp = $${args.length}`);
    }
    if (q.node !== undefined) {
      args.push(q.node);
      where.push(`node = $${args.length}`);
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = (await this.rows<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs ${w}`, args))[0]!.n;
    const n = args.length;
    const rows = await this.rows<JobRow>(`SELECT * FROM jobs ${w} ORDER BY id DESC LIMIT $${n + 1} OFFSET $${n + 2}`, [
      ...args,
      clampLimit(q.limit),
      Math.max(0, q.offset ?? 0),
    ]);
    return { jobs: rows.map(toJob), total };
  }

  async countJobsByState(): Promise<Record<JobState, number>> {
    const c = emptyCounts();
    for (const r of await this.rows<{ state: JobState; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state')) c[r.state] = r.n;
    return c;
  }

  async queuedJobs(): Promise<Job[]> {
    return (await this.rows<JobRow>("SELECT * FROM jobs WHERE state = 'queued' ORDER BY id")).map(toJob);
  }

  async startAttempts(assignments: readonly { jobId: number; node: string }[], now: number): Promise<{ jobId: number; attempt: Attempt }[]> {
    // A job named twice can start once: its first assignment wins (the later ones would find it running).
    const seen = new Set<number>();
    const first = assignments.filter((a) => !seen.has(a.jobId) && seen.add(a.jobId));
    if (!first.length) return [];
    // One statement for the batch: queued jobs locked, one attempt each (ids in the assignments' order), jobs pointed at them.
    const rows = await this.atomic((s) =>
      s.rows<{ id: number; job_id: number; node: string }>(
        `WITH input AS (SELECT * FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x(job_id, node, ord)),
              q AS (SELECT input.* FROM input JOIN jobs ON jobs.id = input.job_id WHERE jobs.state = 'queued' ORDER BY input.ord FOR UPDATE OF jobs),
              a AS (INSERT INTO attempts (job_id, node, state, started_at) SELECT job_id, node, 'running', $3 FROM q ORDER BY ord RETURNING id, job_id),
              u AS (UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, $3),
                           current_attempt_id = a.id, last_attempt_id = a.id, node = q.node
                      FROM a JOIN q ON q.job_id = a.job_id WHERE jobs.id = a.job_id RETURNING jobs.id)
         SELECT a.id, a.job_id, q.node FROM a JOIN q ON q.job_id = a.job_id ORDER BY q.ord`,
        [first.map((a) => a.jobId), first.map((a) => a.node), now],
      ),
    );
    return rows.map((r) => ({ jobId: r.job_id, attempt: { id: r.id, jobId: r.job_id, node: r.node, state: 'running', startedAt: now } }));
  }

  endAttempt(end: AttemptEnd): Promise<boolean> {
    return this.endOne(end);
  }

  /** endAttempt's body: `endAttempts` loops over this, not over the counted `endAttempt` (store/write-counter.ts). */
  private async endOne(end: AttemptEnd): Promise<boolean> {
    const lost = end.state === 'node-lost' ? 1 : 0;
    const abandoned = end.state === 'abandoned' ? 1 : 0;
    // The compare-and-set: only the job's current, running attempt may move it ($1 job, $2 attempt).
    const [moveJob, jobArgs] =
      end.job.state === 'queued'
        ? [`state = 'queued', current_attempt_id = NULL, available_at = $7, reason = $8`, [end.job.availableAt, end.job.reason]]
        : [`state = $7, current_attempt_id = NULL, finished_at = $3, reason = COALESCE($8::text, reason)`, [end.job.state, end.job.reason ?? null]];
    const sql = `WITH j AS (UPDATE jobs SET ${moveJob}, node_losses = node_losses + $9, abandons = abandons + $10
                             WHERE id = $1 AND state = 'running' AND current_attempt_id = $2 RETURNING id),
                      e AS (UPDATE attempts SET state = $4, ended_at = $3, reason = $5, result = $6
                             WHERE id = $2 AND state = 'running' AND EXISTS (SELECT 1 FROM j) RETURNING id)
                 SELECT (SELECT COUNT(*) FROM j) AS moved, (SELECT COUNT(*) FROM e) AS ended`;
    const args = [
      end.jobId,
      end.attemptId,
      end.at,
      end.state,
      end.reason ?? null,
      end.result === undefined ? null : JSON.stringify(end.result),
      ...jobArgs,
      lost,
      abandoned,
    ];
    return this.atomic(async (s) => {
      const r = (await s.rows<{ moved: number; ended: number }>(sql, args))[0]!;
      if (r.moved !== 1) return false;
      if (r.ended !== 1) throw new StoreError(`attempt ${end.attemptId} was current for job ${end.jobId} but not running`);
      return true;
    });
  }

  /**
   * One statement for the whole batch (one round trip per pump, not one per result): every end's
   * compare-and-set, as `endAttempt`'s, joined on its ordinal. A batch that names an attempt or a
   * job twice runs end by end instead, so a second end of one attempt sees the first.
   */
  async endAttempts(ends: readonly AttemptEnd[]): Promise<boolean[]> {
    if (!ends.length) return [];
    const distinct = new Set(ends.map((e) => e.attemptId)).size === ends.length && new Set(ends.map((e) => e.jobId)).size === ends.length;
    return this.atomic(async (s) => {
      if (!distinct || ends.length === 1) {
        const out: boolean[] = [];
        for (const end of ends) out.push(await s.endOne(end));
        return out;
      }
      const r = (
        await s.rows<{ moved: (string | number)[] | null; ended: (string | number)[] | null }>(END_BATCH, [
          ends.map((e) => e.jobId),
          ends.map((e) => e.attemptId),
          ends.map((e) => e.state),
          ends.map((e) => e.at),
          ends.map((e) => e.reason ?? null),
          ends.map((e) => (e.result === undefined ? null : JSON.stringify(e.result))),
          ends.map((e) => e.job.state),
          ends.map((e) => (e.job.state === 'queued' ? e.job.availableAt : null)),
          ends.map((e) => e.job.reason ?? null),
          ends.map((e) => (e.state === 'node-lost' ? 1 : 0)),
          ends.map((e) => (e.state === 'abandoned' ? 1 : 0)),
        ])
      )[0]!;
      const moved = new Set((r.moved ?? []).map(Number));
      const ended = new Set((r.ended ?? []).map(Number));
      return ends.map((end, i) => {
        if (!moved.has(i + 1)) return false;
        if (!ended.has(i + 1)) throw new StoreError(`attempt ${end.attemptId} was current for job ${end.jobId} but not running`);
        return true;
      });
    });
  }

  async getAttempt(id: number): Promise<Attempt | undefined> {
    const r = (await this.rows<AttemptRow>('SELECT * FROM attempts WHERE id = $1', [id]))[0];
    return r && toAttempt(r);
  }
  async listAttempts(jobId: number): Promise<Attempt[]> {
    return (await this.rows<AttemptRow>('SELECT * FROM attempts WHERE job_id = $1 ORDER BY id', [jobId])).map(toAttempt);
  }
  async runningAttempts(): Promise<Attempt[]> {
    return (await this.rows<AttemptRow>("SELECT * FROM attempts WHERE state = 'running' ORDER BY id")).map(toAttempt);
  }

  async cancelQueuedJob(id: number, reason: string, now: number): Promise<boolean> {
    return (
      (await this.changes("UPDATE jobs SET state = 'cancelled', finished_at = $1, reason = $2, cancel_requested = 1 WHERE id = $3 AND state = 'queued'", [
        now,
        reason,
        id,
      ])) === 1
    );
  }
  async markCancelRequested(id: number): Promise<boolean> {
    return (await this.changes("UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND state = 'running'", [id])) === 1;
  }

  async recordStaleResult(s: StaleResult): Promise<void> {
    await this.db.query('INSERT INTO stale_results (attempt_id, job_id, node, reason, received_at) VALUES ($1, $2, $3, $4, $5)', [
      s.attemptId,
      s.jobId ?? null,
      s.node ?? null,
      s.reason,
      s.at,
    ]);
  }
  async countStaleResults(): Promise<number> {
    return (await this.rows<{ n: number }>('SELECT COUNT(*) AS n FROM stale_results'))[0]!.n;
  }

  async saveNode(node: NodeRecord): Promise<void> {
    await this.db.query('INSERT INTO nodes (name, record) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET record = excluded.record', [
      node.name,
      JSON.stringify(node),
    ]);
  }
  async getNode(name: string): Promise<NodeRecord | undefined> {
    const r = (await this.rows<{ record: string }>('SELECT record FROM nodes WHERE name = $1', [name]))[0];
    return r && JSON.parse(r.record);
  }
  async listNodes(): Promise<NodeRecord[]> {
    return (await this.rows<{ record: string }>('SELECT record FROM nodes ORDER BY name COLLATE "C"')).map((r) => JSON.parse(r.record));
  }
  async deleteNode(name: string): Promise<boolean> {
    return (await this.changes('DELETE FROM nodes WHERE name = $1', [name])) === 1;
  }
  async setNodeRemoved(name: string, removed: boolean, at: number): Promise<void> {
    if (removed)
      await this.db.query('INSERT INTO removed_nodes (name, removed_at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET removed_at = excluded.removed_at', [
        name,
        at,
      ]);
    else await this.db.query('DELETE FROM removed_nodes WHERE name = $1', [name]);
  }
  async isNodeRemoved(name: string): Promise<boolean> {
    return (await this.rows('SELECT 1 FROM removed_nodes WHERE name = $1', [name])).length > 0;
  }
  async listRemovedNodes(): Promise<string[]> {
    return (await this.rows<{ name: string }>('SELECT name FROM removed_nodes ORDER BY name COLLATE "C"')).map((r) => r.name);
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.rows<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key]))[0]?.value;
  }
  async setMeta(key: string, value: string): Promise<void> {
    await this.db.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  /** Ends the pool (a transaction's view closes nothing). */
  async close(): Promise<void> {
    if (this.inTx || this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
