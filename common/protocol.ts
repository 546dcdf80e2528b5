/**
 * The agent protocol: JSON text frames over one WebSocket (`/agent`). This module is the
 * only definition; the dispatcher and the agent both import it. Every frame is validated
 * on receipt; a malformed frame gets an `error` frame back and a counter, never a crash.
 *
 * Flow: agent → hello; dispatcher → welcome (or refused + close). Then the agent sends
 * heartbeats, `pull {slots}` credits (how many more jobs it will take), `output` chunks and
 * `result`s; the dispatcher sends `assign`, `cancel`, `result-ack` (after the result is
 * committed), `set-slots`, and node commands. Results are kept by the agent until acked and
 * resent after a reconnect; the attempt id is the fencing token.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { FileRef } from './files.ts';
import { Id, JobSpec, Str } from './job-spec.ts';

export { FILE_NAME, FileRef, fileNameProblem } from './files.ts';
import { TypeCompiler } from '@sinclair/typebox/compiler';

export const PROTOCOL_VERSION = 1;

/** WebSocket close codes used by the dispatcher. */
export const CloseCode = {
  /** hello refused: bad token, unknown node, version mismatch. The agent should not retry fast. */
  refused: 4001,
  /** A newer connection for the same node replaced this one. */
  replaced: 4002,
  /** The dispatcher is shutting down. */
  shutdown: 4003,
  /** The node was declared lost (silent too long); its jobs went elsewhere. Reconnect at once. */
  lost: 4004,
} as const;

export { Requirements, Limits, ExecSpec, FunctionSpec, PY_IDENTIFIER, PY_MODULE_FILE, PythonSpec, JobSpec } from './job-spec.ts';

/**
 * A node's health report: a closed set of bounded numbers (it is stored and fanned out to every
 * browser, so an agent cannot put anything else in it). A report outside these bounds is refused
 * like any malformed frame.
 */
export const Health = Type.Object(
  {
    load1: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6 })),
    load5: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6 })),
    load15: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6 })),
    cpuPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    memTotalMb: Type.Optional(Type.Number({ minimum: 0, maximum: 1e9 })),
    memAvailableMb: Type.Optional(Type.Number({ minimum: 0, maximum: 1e9 })),
    temperatureC: Type.Optional(Type.Number({ minimum: -273, maximum: 1000 })),
    /** Raw `get_throttled` bits on a Pi (bit 0 under-voltage now, 1 capped, 2 throttled, 3 soft temp limit, 16–19 since boot). */
    throttled: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
    uptimeS: Type.Optional(Type.Number({ minimum: 0, maximum: 1e11 })),
    netRxBytes: Type.Optional(Type.Number({ minimum: 0, maximum: 1e19 })),
    netTxBytes: Type.Optional(Type.Number({ minimum: 0, maximum: 1e19 })),
    cpuFreqMhz: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6 })),
  },
  { additionalProperties: false },
);
export type Health = Static<typeof Health>;

export const NodeIdentity = Type.Object(
  {
    name: Str(63),
    mac: Type.Optional(Str(17)),
    serial: Type.Optional(Str(16)),
    model: Type.Optional(Str(64)),
    hostname: Type.Optional(Str(253)),
    ip: Type.Optional(Str(64)),
    cpus: Type.Integer({ minimum: 1 }),
    memoryMb: Type.Integer({ minimum: 1 }),
    arch: Str(16),
    platform: Str(16),
    agentVersion: Str(32),
    imageVersion: Type.Optional(Str(64)),
    /** Changes on every boot (Linux: /proc/sys/kernel/random/boot_id); same id = same boot. */
    bootId: Str(64),
    /** How jobs are contained: a cgroup v2 per job (with the controllers that enforce limits), or process groups only. */
    isolation: Type.Optional(
      Type.Object(
        {
          kind: Type.Union([Type.Literal('cgroup'), Type.Literal('process-group')]),
          controllers: Type.Optional(Type.Array(Str(16), { maxItems: 16 })),
          /** Why it is not (fully) cgroup: no cgroup2 mount, not writable, controllers not delegated. */
          note: Type.Optional(Str(512)),
        },
        { additionalProperties: false },
      ),
    ),
    /** Job runtimes this node has, with versions (`{ "python3": "3.11.2", "node": "20.19.0" }`). */
    runtimes: Type.Optional(Type.Record(Str(32), Str(64))),
  },
  { additionalProperties: false },
);
export type NodeIdentity = Static<typeof NodeIdentity>;

export const AttemptOutcome = Type.Union([
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('timed-out'),
  Type.Literal('cancelled'),
  /** The agent could not run it at all (unsupported kind, missing runtime, …). */
  Type.Literal('rejected'),
]);
export type AttemptOutcome = Static<typeof AttemptOutcome>;

/** `cgroup`: the job's cgroup counters (exact, the whole tree); `rusage`: the runner's getrusage (its process and waited children); `sampled`: /proc of the leader, polled. */
const UsageSource = Type.Union([Type.Literal('cgroup'), Type.Literal('rusage'), Type.Literal('sampled')]);

export const ResultBody = Type.Object(
  {
    attemptId: Id,
    jobId: Id,
    outcome: AttemptOutcome,
    exitCode: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    signal: Type.Optional(Type.Union([Str(16), Type.Null()])),
    /** Function jobs: the JSON return value. */
    value: Type.Optional(Type.Unknown()),
    error: Type.Optional(Str(16 * 1024)),
    stdout: Type.Optional(Type.String()),
    stderr: Type.Optional(Type.String()),
    /** Bytes dropped from the head of each stream by the output bound. */
    stdoutTruncated: Type.Optional(Type.Integer({ minimum: 0 })),
    stderrTruncated: Type.Optional(Type.Integer({ minimum: 0 })),
    startedAt: Type.Number(),
    durationMs: Type.Number({ minimum: 0 }),
    cpuMs: Type.Optional(Type.Number({ minimum: 0 })),
    /** Peak resident memory of the job (its cgroup's memory.peak, else the runner's getrusage, else sampled). */
    peakMemoryBytes: Type.Optional(Type.Number({ minimum: 0 })),
    /** Files the job wrote under $PICLUSTER_OUT, uploaded to `POST /api/artifacts` before this result. */
    artifacts: Type.Optional(Type.Array(FileRef, { maxItems: 1000 })),
    /** Why some artifacts were left out (count/size bounds, upload failure). */
    artifactsNote: Type.Optional(Str(1024)),
    /** Where cpuMs and peakMemoryBytes came from, and the asked limits this node could not enforce. */
    accounting: Type.Optional(
      Type.Object(
        {
          isolation: Type.Union([Type.Literal('cgroup'), Type.Literal('process-group')]),
          cpu: Type.Optional(UsageSource),
          memory: Type.Optional(UsageSource),
          unenforced: Type.Optional(Type.Array(Str(16), { maxItems: 8 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ResultBody = Static<typeof ResultBody>;

const msg = <T extends string, P extends Record<string, TSchema>>(type: T, props: P) =>
  Type.Object({ type: Type.Literal(type), ...props }, { additionalProperties: false });

// ── agent → dispatcher ────────────────────────────────────────────────────────────────
export const HelloMsg = msg('hello', {
  protocol: Type.Integer(),
  token: Str(512),
  node: NodeIdentity,
  /** Attempts still running on the agent (reconnect without reboot); slots are at most 1024. */
  running: Type.Array(Id, { maxItems: 1024 }),
});
export const HeartbeatMsg = msg('heartbeat', {
  health: Health,
  running: Type.Array(Id, { maxItems: 4096 }),
});
export const PullMsg = msg('pull', { slots: Type.Integer({ minimum: 1, maximum: 4096 }) });
export const OutputMsg = msg('output', {
  attemptId: Id,
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
  data: Type.String({ maxLength: 1024 * 1024 }),
});
export const ResultMsg = msg('result', { result: ResultBody });
export const EventMsg = msg('event', {
  /** e.g. `kernel` (kmsg lines), `watchdog`, `shell-opened`. */
  kind: Str(64),
  message: Str(16 * 1024),
  level: Type.Optional(Type.Union([Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')])),
});
/**
 * Sent once per agent process after its first welcome: what happened on this node between the
 * last boot file and the hello — the kernel log (/dev/kmsg from the start of the boot, bounded)
 * and `/init`'s milestones (its `picluster-init: milestone=` kmsg records). Times are ms since
 * boot; `bootedAt` (ms since the epoch) places them on the master's timeline. The dispatcher
 * records it once per boot id (an agent restarted in the same boot sends it again).
 */
export const BootReportMsg = msg('boot-report', {
  bootId: Str(64),
  bootedAt: Type.Number({ minimum: 0 }),
  milestones: Type.Array(
    Type.Object(
      {
        step: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }),
        uptimeMs: Type.Number({ minimum: 0 }),
        detail: Type.Record(Type.String({ maxLength: 32 }), Type.String({ maxLength: 256 }), { maxProperties: 16 }),
      },
      { additionalProperties: false },
    ),
    { maxItems: 64 },
  ),
  kernelLog: Type.Array(
    Type.Object(
      { uptimeMs: Type.Number({ minimum: 0 }), level: Type.Integer({ minimum: 0, maximum: 7 }), text: Type.String({ maxLength: 1024 }) },
      { additionalProperties: false },
    ),
    { maxItems: 2000 },
  ),
  /** Records left out (the oldest beyond the bounds, or overwritten in the kernel's ring). */
  droppedLines: Type.Integer({ minimum: 0 }),
});

/** Browser shell (admin only): pty output of a session the dispatcher opened, and its end. */
const SessionId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const TermSize = { cols: Type.Integer({ minimum: 1, maximum: 1000 }), rows: Type.Integer({ minimum: 1, maximum: 1000 }) };
export const ShellOutputMsg = msg('shell-output', { sessionId: SessionId, data: Type.String({ maxLength: 1024 * 1024 }) });
export const ShellExitMsg = msg('shell-exit', { sessionId: SessionId, code: Type.Integer() });

export const AgentMessage = Type.Union([HelloMsg, HeartbeatMsg, PullMsg, OutputMsg, ResultMsg, EventMsg, BootReportMsg, ShellOutputMsg, ShellExitMsg]);
export type AgentMessage = Static<typeof AgentMessage>;

// ── dispatcher → agent ────────────────────────────────────────────────────────────────
export const WelcomeMsg = msg('welcome', {
  protocol: Type.Integer(),
  node: Str(63),
  heartbeatMs: Type.Integer({ minimum: 1 }),
  /** How many jobs the node runs at once (operator-configurable). */
  slots: Type.Integer({ minimum: 0 }),
  /** Of the attempts the agent said it runs: kill these (the dispatcher gave them up). */
  abandon: Type.Array(Id),
  serverTime: Type.Number(),
});
export const AssignMsg = msg('assign', {
  attemptId: Id,
  jobId: Id,
  spec: JobSpec,
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  outputLimitBytes: Type.Integer({ minimum: 1 }),
});
export const CancelMsg = msg('cancel', { attemptId: Id, reason: Str(256) });
export const ResultAckMsg = msg('result-ack', { attemptId: Id });
export const SetSlotsMsg = msg('set-slots', { slots: Type.Integer({ minimum: 0 }) });
export const CommandMsg = msg('command', {
  /** Node-level actions executed by the agent (reboot, identify, …). */
  command: Type.Union([Type.Literal('reboot'), Type.Literal('identify'), Type.Literal('shutdown')]),
  args: Type.Optional(Type.Record(Str(64), Type.Unknown())),
});
export const ErrorMsg = msg('error', { code: Str(64), message: Str(4096) });
export const RefusedMsg = msg('refused', { code: Str(64), message: Str(4096) });

/** Browser shell: open a pty on the node, feed it keystrokes, resize it, close it. */
export const ShellOpenMsg = msg('shell-open', { sessionId: SessionId, ...TermSize });
export const ShellInputMsg = msg('shell-input', { sessionId: SessionId, data: Type.String({ maxLength: 64 * 1024 }) });
export const ShellResizeMsg = msg('shell-resize', { sessionId: SessionId, ...TermSize });
export const ShellCloseMsg = msg('shell-close', { sessionId: SessionId });

export const DispatcherMessage = Type.Union([
  WelcomeMsg,
  AssignMsg,
  CancelMsg,
  ResultAckMsg,
  SetSlotsMsg,
  CommandMsg,
  ErrorMsg,
  RefusedMsg,
  ShellOpenMsg,
  ShellInputMsg,
  ShellResizeMsg,
  ShellCloseMsg,
]);
export type DispatcherMessage = Static<typeof DispatcherMessage>;

export type MessageOf<U extends { type: string }, T extends U['type']> = Extract<U, { type: T }>;

type Checker = ReturnType<typeof TypeCompiler.Compile>;
/** One compiled checker per frame type: faster than a union, and errors name the real field. */
function checkers(schemas: readonly TSchema[]): Map<string, Checker> {
  return new Map(schemas.map((s) => [String((s.properties as { type: { const: string } }).type.const), TypeCompiler.Compile(s)]));
}
// Compiled on first use: an agent parses only dispatcher frames and the master only agent frames,
// so neither builds (and holds the generated code of) the other side's checkers.
let agentCheckersMemo: Map<string, Checker> | undefined;
const agentCheckers = () => (agentCheckersMemo ??= checkers(AgentMessage.anyOf));
let dispatcherCheckersMemo: Map<string, Checker> | undefined;
const dispatcherCheckers = () => (dispatcherCheckersMemo ??= checkers(DispatcherMessage.anyOf));

export type ParseResult<M> = { ok: true; message: M } | { ok: false; code: 'BAD_JSON' | 'BAD_MESSAGE'; error: string };

function parseWith<M>(byType: Map<string, Checker>, raw: string | Buffer): ParseResult<M> {
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (e) {
    return { ok: false, code: 'BAD_JSON', error: `frame is not JSON: ${(e as Error).message}` };
  }
  const type = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { type?: unknown }).type : undefined;
  const checker = typeof type === 'string' ? byType.get(type) : undefined;
  if (!checker) {
    return { ok: false, code: 'BAD_MESSAGE', error: `unknown frame type ${JSON.stringify(type ?? null)}; expected one of ${[...byType.keys()].join(', ')}` };
  }
  if (checker.Check(value)) return { ok: true, message: value as M };
  const first = checker.Errors(value).First();
  return {
    ok: false,
    code: 'BAD_MESSAGE',
    error: `invalid '${String(type)}' frame: ${first ? `${first.path || '(frame)'}: ${first.message}` : 'does not match'}`,
  };
}

export const parseAgentMessage = (raw: string | Buffer): ParseResult<AgentMessage> => parseWith(agentCheckers(), raw);
export const parseDispatcherMessage = (raw: string | Buffer): ParseResult<DispatcherMessage> => parseWith(dispatcherCheckers(), raw);
