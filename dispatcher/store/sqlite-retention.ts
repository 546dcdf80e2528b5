/** Job retention in SQLite (the store's `pruneFinishedJobs`, `artifactsNamed`; the caller holds the transaction). */
import type Database from 'better-sqlite3';
import type { AttemptResult } from '../domain/jobs.ts';
import type { PrunedJobs } from './store.ts';

export function pruneFinishedJobs(db: Database.Database, before: number, limit: number): PrunedJobs {
  const ids = (
    db
      .prepare("SELECT id FROM jobs WHERE state IN ('succeeded','failed','cancelled') AND finished_at < ? ORDER BY id LIMIT ?")
      .all(before, Math.max(1, Math.floor(limit))) as { id: number }[]
  ).map((r) => r.id);
  if (!ids.length) return { jobs: 0, attempts: 0, artifacts: [] };
  const list = JSON.stringify(ids);
  const artifacts = new Set<string>();
  for (const r of db.prepare(`SELECT result FROM attempts WHERE job_id IN (SELECT value FROM json_each(?)) AND instr(result, '"artifacts"') > 0`).all(list) as {
    result: string;
  }[]) {
    for (const a of (JSON.parse(r.result) as AttemptResult).artifacts ?? []) artifacts.add(a.sha256);
  }
  db.prepare('DELETE FROM stale_results WHERE job_id IN (SELECT value FROM json_each(?))').run(list);
  const attempts = db.prepare('DELETE FROM attempts WHERE job_id IN (SELECT value FROM json_each(?))').run(list).changes;
  const jobs = db.prepare('DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))').run(list).changes;
  return { jobs, attempts, artifacts: [...artifacts] };
}

export function artifactsNamed(db: Database.Database, shas: ReadonlySet<string>, afterId: number, limit: number): { named: string[]; lastId: number } {
  const rows = db
    .prepare(`SELECT id, CASE WHEN instr(result, '"artifacts"') > 0 THEN result END AS result FROM attempts WHERE id > ? ORDER BY id LIMIT ?`)
    .all(afterId, Math.max(1, Math.floor(limit))) as { id: number; result: string | null }[];
  const named = new Set<string>();
  for (const r of rows) {
    if (r.result === null) continue;
    for (const a of (JSON.parse(r.result) as AttemptResult).artifacts ?? []) if (shas.has(a.sha256)) named.add(a.sha256);
  }
  return { named: [...named], lastId: rows.length < limit ? 0 : rows[rows.length - 1]!.id };
}
