/** Row shapes of the SQL tables (SQLite and PostgreSQL share them) and their mapping to domain records. */
import type { Attempt, AttemptState, Job, JobState } from '../domain/jobs.ts';
import type { NodeEvent } from '../domain/nodes.ts';
import type { Alert, PowerOp, PowerOpAction, PowerOpState } from './store.ts';

export interface JobRow {
  id: number;
  name: string | null;
  spec: string;
  priority: number;
  grp: string;
  retries: number;
  timeout_ms: number | null;
  requirements: string;
  state: JobState;
  attempts: number;
  submitted_at: number;
  available_at: number;
  started_at: number | null;
  finished_at: number | null;
  current_attempt_id: number | null;
  last_attempt_id: number | null;
  node: string | null;
  reason: string | null;
  cancel_requested: number;
  node_losses: number;
  abandons: number;
  retry_on: string | null;
}

export interface AttemptRow {
  id: number;
  job_id: number;
  node: string;
  state: AttemptState;
  started_at: number;
  ended_at: number | null;
  reason: string | null;
  result: string | null;
}

export function toJob(r: JobRow): Job {
  return {
    id: r.id,
    ...(r.name !== null ? { name: r.name } : {}),
    spec: JSON.parse(r.spec),
    priority: r.priority,
    group: r.grp,
    retries: r.retries,
    ...(r.retry_on !== null ? { retryOn: JSON.parse(r.retry_on) } : {}),
    ...(r.timeout_ms !== null ? { timeoutMs: r.timeout_ms } : {}),
    requirements: JSON.parse(r.requirements),
    state: r.state,
    attempts: r.attempts,
    submittedAt: r.submitted_at,
    availableAt: r.available_at,
    ...(r.started_at !== null ? { startedAt: r.started_at } : {}),
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
    ...(r.current_attempt_id !== null ? { currentAttemptId: r.current_attempt_id } : {}),
    ...(r.last_attempt_id !== null ? { lastAttemptId: r.last_attempt_id } : {}),
    ...(r.node !== null ? { node: r.node } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
    cancelRequested: r.cancel_requested === 1,
    nodeLosses: r.node_losses,
    abandons: r.abandons,
  };
}

export interface PowerOpRow {
  id: number;
  node: string;
  driver: string;
  action: PowerOpAction;
  state: PowerOpState;
  actor: string;
  requested_at: number;
  completed_at: number | null;
  verified: number | null;
  detail: string | null;
}
export const toPowerOp = (r: PowerOpRow): PowerOp => ({
  id: r.id,
  node: r.node,
  driver: r.driver,
  action: r.action,
  state: r.state,
  actor: r.actor,
  requestedAt: r.requested_at,
  ...(r.completed_at !== null ? { completedAt: r.completed_at } : {}),
  ...(r.verified !== null ? { verified: r.verified === 1 } : {}),
  ...(r.detail !== null ? { detail: r.detail } : {}),
});

export interface AlertRow {
  id: number;
  kind: string;
  node: string | null;
  severity: Alert['severity'];
  message: string;
  raised_at: number;
  resolved_at: number | null;
}
export const toAlert = (r: AlertRow): Alert => ({
  id: r.id,
  kind: r.kind,
  ...(r.node !== null ? { node: r.node } : {}),
  severity: r.severity,
  message: r.message,
  raisedAt: r.raised_at,
  ...(r.resolved_at !== null ? { resolvedAt: r.resolved_at } : {}),
});

export function toAttempt(r: AttemptRow): Attempt {
  return {
    id: r.id,
    jobId: r.job_id,
    node: r.node,
    state: r.state,
    startedAt: r.started_at,
    ...(r.ended_at !== null ? { endedAt: r.ended_at } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.result !== null ? { result: JSON.parse(r.result) } : {}),
  };
}

export interface NodeEventRow {
  id: number;
  node: string;
  at: number;
  kind: string;
  message: string;
  actor: string;
  from_state: string | null;
  to_state: string | null;
}
export const toNodeEvent = (r: NodeEventRow): NodeEvent => ({
  id: r.id,
  node: r.node,
  at: r.at,
  kind: r.kind,
  message: r.message,
  actor: r.actor,
  ...(r.from_state !== null ? { from: r.from_state as NodeEvent['from'] } : {}),
  ...(r.to_state !== null ? { to: r.to_state as NodeEvent['to'] } : {}),
});
