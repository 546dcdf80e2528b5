/** Domain records → the REST answers declared in api-schemas.ts (the return types tie each projection to its schema). */
import type { Attempt, Job } from '../domain/jobs.ts';
import type { ApiShapes } from './api-schemas.ts';

export function jobView(job: Job): ApiShapes['Job'] {
  return {
    id: job.id,
    ...(job.name !== undefined ? { name: job.name } : {}),
    kind: job.spec.kind,
    state: job.state,
    priority: job.priority,
    group: job.group,
    retries: job.retries,
    attempts: job.attempts,
    ...(job.timeoutMs !== undefined ? { timeoutMs: job.timeoutMs } : {}),
    requirements: job.requirements,
    submittedAt: job.submittedAt,
    ...(job.availableAt > job.submittedAt && job.state === 'queued' ? { availableAt: job.availableAt } : {}),
    ...(job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
    ...(job.finishedAt !== undefined ? { finishedAt: job.finishedAt } : {}),
    ...(job.node !== undefined ? { node: job.node } : {}),
    ...(job.reason !== undefined ? { reason: job.reason } : {}),
    ...(job.cancelRequested ? { cancelRequested: true } : {}),
    spec: job.spec,
  };
}

/**
 * A job as the live UI channel sends it: everything but the payload. The spec is cut to its kind
 * and the first argv words (for the job's title); stdin, env, sources and args stay behind REST
 * (`GET /api/jobs/:id`), so a snapshot's size does not grow with what was submitted.
 */
export function jobSummaryView(job: Job) {
  const { spec, ...rest } = jobView(job);
  const argv = spec.kind === 'exec' ? spec.argv.slice(0, 16).map((a) => (a.length > 200 ? `${a.slice(0, 200)}…` : a)) : undefined;
  return { ...rest, spec: { kind: spec.kind, ...(argv ? { argv } : {}) } };
}

export function attemptView(a: Attempt): ApiShapes['Attempt'] {
  const r = a.result;
  return {
    id: a.id,
    node: a.node,
    state: a.state,
    startedAt: a.startedAt,
    ...(a.endedAt !== undefined ? { endedAt: a.endedAt } : {}),
    ...(a.reason !== undefined ? { reason: a.reason } : {}),
    ...(r?.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    ...(r?.signal ? { signal: r.signal } : {}),
    ...(r?.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
  };
}

/** The job's result: its last attempt's, once the job has ended. */
export function resultView(job: Job, attempts: readonly Attempt[]): ApiShapes['Result'] | undefined {
  if (job.state === 'queued' || job.state === 'running') return undefined;
  const last = attempts.find((a) => a.id === job.lastAttemptId);
  const r = last?.result;
  if (!last) return undefined;
  return {
    attemptId: last.id,
    outcome: last.state,
    ...(r?.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    ...(r?.signal ? { signal: r.signal } : {}),
    ...(r && 'value' in r ? { value: r.value } : {}),
    ...(r?.error ? { error: r.error } : {}),
    ...(r?.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
    ...(r?.cpuMs !== undefined ? { cpuMs: r.cpuMs } : {}),
    ...(r?.peakMemoryBytes !== undefined ? { peakMemoryBytes: r.peakMemoryBytes } : {}),
    ...(r?.stdoutTruncated ? { stdoutTruncated: r.stdoutTruncated } : {}),
    ...(r?.stderrTruncated ? { stderrTruncated: r.stderrTruncated } : {}),
  };
}
