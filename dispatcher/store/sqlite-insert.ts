/**
 * SQLite's job insert: up to CHUNK jobs per multi-row `INSERT … VALUES (…), (…)` with positional
 * parameters (one statement per chunk instead of one per job: the per-statement and named-binding
 * cost was two thirds of a submit's store time), each chunk size's statement prepared once.
 *
 * The ids: `jobs.id` is `INTEGER PRIMARY KEY AUTOINCREMENT`, so each row a statement inserts gets
 * one more than the largest id the table has ever had, in VALUES order: a chunk of n rows whose
 * last id is L holds L − n + 1 … L. The caller holds the write transaction (nothing interleaves).
 */
import type Database from 'better-sqlite3';
import { queuedJob, type Job, type NewJob } from '../domain/jobs.ts';
import { StoreError } from './errors.ts';

const CHUNK = 64;
const COLUMNS = 'name, spec, priority, grp, retries, retry_on, timeout_ms, requirements, state, submitted_at, available_at';
const ROW = "(?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)";

export class JobInserter {
  private readonly statements = new Map<number, Database.Statement>();
  constructor(private readonly db: Database.Database) {}

  /** Inserts `jobs` (queued) and returns them with their ids, in order; call inside a transaction. */
  insert(jobs: readonly NewJob[], now: number): Job[] {
    const out: Job[] = [];
    for (let at = 0; at < jobs.length; at += CHUNK) {
      const n = Math.min(CHUNK, jobs.length - at);
      const args: unknown[] = [];
      for (let k = at; k < at + n; k++) {
        const j = jobs[k]!;
        args.push(
          j.name ?? null,
          JSON.stringify(j.spec),
          j.priority,
          j.group,
          j.retries,
          j.retryOn ? JSON.stringify(j.retryOn) : null,
          j.timeoutMs ?? null,
          JSON.stringify(j.requirements),
          now,
          now,
        );
      }
      const info = this.statement(n).run(args);
      if (info.changes !== n) throw new StoreError(`inserted ${info.changes} of ${n} jobs`);
      const first = Number(info.lastInsertRowid) - n + 1;
      for (let k = 0; k < n; k++) out.push(queuedJob(jobs[at + k]!, first + k, now));
    }
    return out;
  }

  private statement(n: number): Database.Statement {
    let s = this.statements.get(n);
    if (!s) this.statements.set(n, (s = this.db.prepare(`INSERT INTO jobs (${COLUMNS}) VALUES ${Array(n).fill(ROW).join(', ')}`)));
    return s;
  }
}
