/**
 * The Agent's public types: its options, the typed events tests and `main` listen to, and the
 * seams tests replace (job runner, reconnect timer).
 */
import type { ClientOptions } from 'ws';
import type { BootReport } from './boot-report.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { DispatcherMessage, Health, MessageOf, NodeIdentity, ResultBody } from '../common/protocol.ts';
import type { BackoffOptions } from './backoff.ts';
import type { AttemptRequest, OutputStream, RunningAttempt } from './runner.ts';
import type { FileSource } from './sources.ts';

export type Msg<T extends DispatcherMessage['type']> = MessageOf<DispatcherMessage, T>;

export interface JobRunner {
  start(req: AttemptRequest, onOutput: (stream: OutputStream, data: string) => void): RunningAttempt;
}

export interface ReconnectTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimer: ReconnectTimer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface AgentOptions {
  /** `ws://host:port/agent` (or `wss://`). */
  readonly url: string;
  /** With wss: how the master's certificate is checked (node-agent/tls-options.ts). */
  readonly wsOptions?: Pick<ClientOptions, 'createConnection'>;
  readonly token: string;
  readonly log: Logger;
  /** Collected before every connection (addresses may change between them). */
  readonly identity: () => Promise<NodeIdentity>;
  readonly health: () => Promise<Health>;
  readonly runner: JobRunner;
  /** Local cap on concurrent jobs; the dispatcher's slot count applies below it. */
  readonly slotsCap?: number | undefined;
  readonly rebootCommand?: readonly string[];
  readonly shutdownCommand?: readonly string[];
  readonly watchdog?: { readonly path: string; readonly intervalMs?: number } | undefined;
  /**
   * This boot's report (kernel log + /init milestones), sent once after the first welcome of the
   * process; `now` is the dispatcher's clock (welcome.serverTime), which places the boot in time.
   */
  readonly bootReport?: ((bootId: string, now: number) => BootReport | undefined) | undefined;
  /** LED sysfs root for `identify`; default `/sys/class/leds`. */
  readonly ledsDir?: string;
  readonly files?: FileSource;
  readonly backoff?: Partial<BackoffOptions>;
  /** After `refused` / close 4001. Default 60 s (±25 % jitter). */
  readonly refusedBackoffMs?: number;
  /** After close 4002: another agent connected with this node's name. Default 30 s. */
  readonly replacedBackoffMs?: number;
  /** A connection must stay up this long before the backoff resets. Default 10 s. */
  readonly stableAfterMs?: number;
  /** No welcome within this long after open → drop and retry. Default 10 s. */
  readonly helloTimeoutMs?: number;
  /** Results are shrunk to fit frames of this size (the dispatcher's ws limit is 16 MiB). Default 12 MiB. */
  readonly maxResultFrameBytes?: number;
  readonly reconnectTimer?: ReconnectTimer;
  readonly clock?: Clock;
}

export type AgentEvents = {
  connecting: [{ attempt: number }];
  welcome: [Msg<'welcome'>];
  disconnected: [{ code: number; reason: string }];
  'reconnect-scheduled': [{ delayMs: number; reason: 'backoff' | 'refused' | 'replaced' }];
  refused: [{ code: string; message: string }];
  assign: [Msg<'assign'>];
  'job-started': [{ attemptId: number; jobId: number }];
  'job-finished': [{ result: ResultBody; discarded: boolean }];
  'result-acked': [{ attemptId: number }];
  'heartbeat-sent': [{ running: number[]; health: Health }];
  'pull-sent': [{ slots: number }];
  'slots-changed': [{ slots: number }];
  malformed: [{ error: string }];
  'dispatcher-error': [{ code: string; message: string }];
  command: [{ command: string; ok: boolean; detail: string }];
  'watchdog-pet': [];
  stopped: [];
};

export interface AgentStats {
  readonly connected: boolean;
  readonly running: number[];
  readonly unacked: number[];
  readonly slots: number;
  readonly credits: number;
  readonly malformedFrames: number;
  readonly reconnects: number;
}
