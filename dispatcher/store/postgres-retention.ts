/** Job retention in PostgreSQL (the store's `pruneFinishedJobs`, `artifactsNamed`; the caller holds the transaction). */
import type { AttemptResult } from '../domain/jobs.ts';
import type { PgQueryable } from './postgres-history.ts';
import type { PrunedJobs } from './store.ts';

export async function pgPruneFinishedJobs(db: PgQueryable, before: number, limit: number): Promise<PrunedJobs> {
  const { rows } = await db.query<{ id: number }>(
    "SELECT id FROM jobs WHERE state IN ('succeeded','failed','cancelled') AND finished_at < $1 ORDER BY id LIMIT $2",
    [before, Math.max(1, Math.floor(limit))],
  );
  const ids = rows.map((r) => r.id);
  if (!ids.length) return { jobs: 0, attempts: 0, artifacts: [] };
  const artifacts = new Set<string>();
  const named = await db.query<{ result: string }>(`SELECT result FROM attempts WHERE job_id = ANY($1::bigint[]) AND position('"artifacts"' in result) > 0`, [
    ids,
  ]);
  for (const r of named.rows) for (const a of (JSON.parse(r.result) as AttemptResult).artifacts ?? []) artifacts.add(a.sha256);
  await db.query('DELETE FROM stale_results WHERE job_id = ANY($1::bigint[])', [ids]);
  const attempts = (await db.query('DELETE FROM attempts WHERE job_id = ANY($1::bigint[])', [ids])).rowCount ?? 0;
  const jobs = (await db.query('DELETE FROM jobs WHERE id = ANY($1::bigint[])', [ids])).rowCount ?? 0;
  return { jobs, attempts, artifacts: [...artifacts] };
}

export async function pgArtifactsNamed(
  db: PgQueryable,
  shas: ReadonlySet<string>,
  afterId: number,
  limit: number,
): Promise<{ named: string[]; lastId: number }> {
  const { rows } = await db.query<{ id: number; result: string | null }>(
    `SELECT id, CASE WHEN position('"artifacts"' in result) > 0 THEN result END AS result FROM attempts WHERE id > $1 ORDER BY id LIMIT $2`,
    [afterId, Math.max(1, Math.floor(limit))],
  );
  const named = new Set<string>();
  for (const r of rows) {
    if (r.result === null) continue;
    for (const a of (JSON.parse(r.result) as AttemptResult).artifacts ?? []) if (shas.has(a.sha256)) named.add(a.sha256);
  }
  return { named: [...named], lastId: rows.length < limit ? 0 : rows[rows.length - 1]!.id };
}
