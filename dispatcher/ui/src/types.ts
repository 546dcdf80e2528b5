/** Shapes the UI receives (REST and ws /ui); kept loose: the server is the source of truth. */

export interface Health {
  load1?: number;
  cpuPercent?: number;
  memTotalMb?: number;
  memAvailableMb?: number;
  temperatureC?: number;
  throttled?: number;
  uptimeS?: number;
  cpuFreqMhz?: number;
}

export interface NodeView {
  name: string;
  state: string;
  stateSince: number;
  stateReason?: string;
  connected: boolean;
  mac?: string;
  serial?: string;
  model?: string;
  ip?: string;
  labels: Record<string, string>;
  slots: number;
  running: number;
  cpus?: number;
  memoryMb?: number;
  arch?: string;
  agentVersion?: string;
  imageVersion?: string;
  bootId?: string;
  boots: number;
  jobsDone: number;
  jobsFailed: number;
  cpuMs: number;
  health?: Health;
  lastSeenAt?: number;
  source: string;
  perf?: number;
}

export type JobSpec =
  | { kind: 'exec'; argv: string[]; env?: Record<string, string>; stdin?: string }
  | { kind: 'function'; source: string; args?: unknown[]; env?: Record<string, string> };

export interface Requirements {
  labels?: Record<string, string>;
  cpus?: number;
  memoryMb?: number;
  arch?: string;
  node?: string;
}

export interface JobView {
  id: number;
  name?: string;
  kind: 'exec' | 'function';
  state: string;
  priority: number;
  group: string;
  retries: number;
  attempts: number;
  timeoutMs?: number;
  requirements: Requirements;
  submittedAt: number;
  availableAt?: number;
  startedAt?: number;
  finishedAt?: number;
  node?: string;
  reason?: string;
  cancelRequested?: boolean;
  spec: JobSpec;
}

export interface AttemptView {
  id: number;
  node: string;
  state: string;
  startedAt: number;
  endedAt?: number;
  reason?: string;
  exitCode?: number;
  signal?: string;
  durationMs?: number;
}

export interface FullJob extends JobView {
  attemptList: AttemptView[];
  result?: { attemptId: number; outcome: string; exitCode?: number; signal?: string; value?: unknown; error?: string; durationMs?: number };
}

export interface NodeEvent {
  id?: number;
  node: string;
  at: number;
  kind: string;
  message: string;
  actor: string;
  from?: string;
  to?: string;
}

export interface BootEvent {
  kind: string;
  at: number;
  mac?: string;
  serial?: string;
  node?: string;
  ip?: string;
  outcome: string;
  reason?: string;
  detail?: Record<string, string | number | boolean>;
}

export type FeedItem = ({ type: 'node' } & NodeEvent) | ({ type: 'boot' } & BootEvent);

export interface MinuteCount {
  t: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface HealthSample {
  t: number;
  cpuPercent?: number;
  load1?: number;
  memUsedPercent?: number;
  temperatureC?: number;
  throttled?: number;
}

export interface QueueInfo {
  ready: number;
  delayed: number;
  byGroup: Record<string, number>;
}
