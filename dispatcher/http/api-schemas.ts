/**
 * The REST API's response shapes, declared once as TypeBox schemas: routes declare them as
 * response schemas (serialisation and the OpenAPI document at /docs), and the TS client
 * (client/cluster.ts) and the UI (ui/src/types.ts) take their types from `ApiShapes` here
 * with `import type` (no runtime dependency). Every schema has an `$id`, which is also its
 * name under `components.schemas` in the OpenAPI document; containers `Type.Ref` their items
 * (one definition each, no duplicate `$id`).
 */
import { Kind, Type, type Static, type TSchema } from '@sinclair/typebox';
import { Health, type JobSpec, NodeIdentity, Requirements } from '../../common/protocol.ts';
import { ATTEMPT_STATES, JOB_STATES } from '../domain/jobs.ts';
import { NODE_STATES } from '../domain/nodes.ts';

/** A `$ref` to a registered schema, typed as that schema (TypeBox 0.34's form of `Type.Ref(schema)`). */
export const ref = <T extends TSchema>(schema: T) => Type.Unsafe<Static<T>>(Type.Ref(schema.$id!));
const Opt = Type.Optional;
const Int = () => Type.Integer();
const Num = () => Type.Number();
const Str = () => Type.String();

export const JobStateSchema = Type.Union(JOB_STATES.map((s) => Type.Literal(s)));
export const AttemptStateSchema = Type.Union(ATTEMPT_STATES.map((s) => Type.Literal(s)));
export const NodeStateSchema = Type.Union(NODE_STATES.map((s) => Type.Literal(s)));

/**
 * A job's spec as answered: typed as `JobSpec` (exec | function | python, common/protocol.ts), but
 * serialised as a plain object: an `anyOf` here made fast-json-stringify validate every job's
 * spec against each branch, which cost a third of the submission throughput (bench:dispatch).
 */
const SpecOut = Type.Unsafe<Static<typeof JobSpec>>({
  [Kind]: 'Object',
  type: 'object',
  properties: { kind: Type.Union([Type.Literal('exec'), Type.Literal('function'), Type.Literal('python')]) },
  required: ['kind'],
  additionalProperties: true,
  description: 'the job spec: exec (argv, env, stdin), function (source, args) or python (source, function, args, kwargs, depends); see JobSubmission',
});

export const JobView = Type.Object(
  {
    id: Int(),
    name: Opt(Str()),
    kind: Type.Union([Type.Literal('exec'), Type.Literal('function'), Type.Literal('python')]),
    state: JobStateSchema,
    priority: Int(),
    group: Str(),
    retries: Int(),
    attempts: Int(),
    timeoutMs: Opt(Int()),
    requirements: Requirements,
    submittedAt: Num(),
    /** Only while queued with a retry backoff: when it may run again. */
    availableAt: Opt(Num()),
    startedAt: Opt(Num()),
    finishedAt: Opt(Num()),
    node: Opt(Str()),
    reason: Opt(Str()),
    cancelRequested: Opt(Type.Boolean()),
    spec: SpecOut,
  },
  { $id: 'Job' },
);

export const AttemptView = Type.Object(
  {
    id: Int(),
    node: Str(),
    state: AttemptStateSchema,
    startedAt: Num(),
    endedAt: Opt(Num()),
    reason: Opt(Str()),
    exitCode: Opt(Type.Union([Int(), Type.Null()])),
    signal: Opt(Str()),
    durationMs: Opt(Num()),
  },
  { $id: 'Attempt' },
);

export const ResultView = Type.Object(
  {
    attemptId: Int(),
    outcome: AttemptStateSchema,
    exitCode: Opt(Type.Union([Int(), Type.Null()])),
    signal: Opt(Str()),
    value: Opt(Type.Unknown()),
    error: Opt(Str()),
    durationMs: Opt(Num()),
    cpuMs: Opt(Num()),
    peakMemoryBytes: Opt(Num()),
    stdoutTruncated: Opt(Int()),
    stderrTruncated: Opt(Int()),
    /** Files the job wrote under $PICLUSTER_OUT: `GET /api/jobs/:id/artifacts/<name>` (docs/files.md). */
    artifacts: Opt(Type.Array(Type.Object({ name: Str(), sha256: Str(), sizeBytes: Int() }))),
    artifactsNote: Opt(Str()),
  },
  { $id: 'Result' },
);

const fullJobProps = { ...JobView.properties, attemptList: Type.Array(ref(AttemptView)), result: Opt(ref(ResultView)) };
export const FullJob = Type.Object(fullJobProps, { $id: 'FullJob' });
export const WaitedJob = Type.Object({ done: Type.Boolean(), ...fullJobProps }, { $id: 'WaitedJob' });
export const JobList = Type.Object({ total: Int(), limit: Int(), offset: Int(), jobs: Type.Array(ref(JobView)) }, { $id: 'JobList' });
export const JobCounts = Type.Object(Object.fromEntries(JOB_STATES.map((s) => [s, Int()])) as Record<(typeof JOB_STATES)[number], ReturnType<typeof Int>>, {
  $id: 'JobCounts',
});
export const JobOutput = Type.Object(
  { attemptId: Opt(Int()), running: Type.Boolean(), stdout: Str(), stderr: Str(), stdoutTruncated: Int(), stderrTruncated: Int() },
  { $id: 'JobOutput' },
);

export const NodeView = Type.Object(
  {
    name: Str(),
    /** The lifecycle state; `busy` when online with every slot in use. */
    state: NodeStateSchema,
    stateSince: Num(),
    stateReason: Opt(Str()),
    connected: Type.Boolean(),
    mac: Opt(Str()),
    serial: Opt(Str()),
    model: Opt(Str()),
    ip: Opt(Str()),
    labels: Type.Record(Str(), Str()),
    slots: Int(),
    running: Int(),
    cpus: Opt(Int()),
    memoryMb: Opt(Int()),
    arch: Opt(Str()),
    agentVersion: Opt(Str()),
    imageVersion: Opt(Str()),
    bootId: Opt(Str()),
    boots: Int(),
    jobsDone: Int(),
    jobsFailed: Int(),
    cpuMs: Num(),
    /** Largest peak memory of a job on this node. */
    peakMemoryBytes: Opt(Num()),
    health: Opt(Health),
    lastSeenAt: Opt(Num()),
    source: Str(),
    /** EWMA of normalised job durations (1 = average; lower is faster). */
    perf: Opt(Num()),
    identity: Opt(NodeIdentity),
  },
  { $id: 'Node' },
);
export const NodeList = Type.Array(ref(NodeView), { $id: 'NodeList' });
export const NodeDetail = Type.Object(
  { ...NodeView.properties, runningAttempts: Type.Array(Type.Object({ attemptId: Int(), jobId: Int(), startedAt: Num() })) },
  { $id: 'NodeDetail' },
);

export const NodeEventView = Type.Object(
  {
    id: Opt(Int()),
    node: Str(),
    at: Num(),
    kind: Str(),
    message: Str(),
    actor: Str(),
    from: Opt(NodeStateSchema),
    to: Opt(NodeStateSchema),
  },
  { $id: 'NodeEvent' },
);
export const NodeEventList = Type.Array(ref(NodeEventView), { $id: 'NodeEventList' });

export const BootEventView = Type.Object(
  {
    kind: Type.Union(
      (['dhcp-discover', 'dhcp-ignored', 'dhcp-ack', 'tftp-transfer', 'http-fetch', 'agent-hello', 'init-milestone', 'kernel-log'] as const).map((k) =>
        Type.Literal(k),
      ),
    ),
    at: Num(),
    mac: Opt(Str()),
    serial: Opt(Str()),
    node: Opt(Str()),
    ip: Opt(Str()),
    outcome: Str(),
    reason: Opt(Str()),
    detail: Opt(Type.Record(Str(), Type.Union([Str(), Num(), Type.Boolean()]))),
  },
  { $id: 'BootEvent' },
);
export const BootEventList = Type.Array(ref(BootEventView), { $id: 'BootEventList' });

const QueueInfo = Type.Object({ ready: Int(), delayed: Int(), byGroup: Type.Record(Str(), Int()) });
const NodeCounts = Type.Object({ total: Int(), byState: Type.Record(Str(), Int()), connected: Int() });
const SlotCounts = Type.Object({ total: Int(), busy: Int() });
export const Overview = Type.Object(
  {
    version: Str(),
    store: Str(),
    nodes: NodeCounts,
    slots: SlotCounts,
    jobs: ref(JobCounts),
    queue: QueueInfo,
    staleResults: Int(),
    strategy: Str(),
  },
  { $id: 'Overview' },
);
export const ClusterHealth = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('down')]),
    problems: Type.Array(Str()),
    nodes: NodeCounts,
    slots: SlotCounts,
    queue: QueueInfo,
  },
  { $id: 'ClusterHealth' },
);
export const MasterHealth = Type.Object({ status: Type.Literal('ok'), version: Str(), uptimeS: Int() }, { $id: 'MasterHealth' });

export const PowerOpView = Type.Object(
  {
    id: Int(),
    node: Str(),
    driver: Str(),
    action: Type.Union([Type.Literal('on'), Type.Literal('off'), Type.Literal('cycle'), Type.Literal('reboot')]),
    state: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('reconciled')]),
    actor: Str(),
    requestedAt: Num(),
    completedAt: Opt(Num()),
    verified: Opt(Type.Boolean()),
    detail: Opt(Str()),
  },
  { $id: 'PowerOp' },
);
export const PowerOpList = Type.Array(ref(PowerOpView), { $id: 'PowerOpList' });
export const AlertView = Type.Object(
  {
    id: Int(),
    kind: Str(),
    node: Opt(Str()),
    severity: Type.Union([Type.Literal('warning'), Type.Literal('critical')]),
    message: Str(),
    raisedAt: Num(),
    resolvedAt: Opt(Num()),
  },
  { $id: 'Alert' },
);
export const AlertList = Type.Object({ breakerOpen: Type.Boolean(), alerts: Type.Array(ref(AlertView)) }, { $id: 'AlertList' });
export const NodePower = Type.Object(
  {
    /** The node's power settings with secrets redacted; null without a driver. */
    power: Type.Union([Type.Record(Str(), Type.Unknown()), Type.Null()]),
    canPowerCycle: Type.Boolean(),
    ladder: Type.Union([Type.Object({ step: Str(), since: Num(), failedCycles: Type.Array(Num()), triedAgentReboot: Type.Boolean() }), Type.Null()]),
  },
  { $id: 'NodePower' },
);
export const RebootResult = Type.Object({ sent: Type.Boolean(), node: ref(NodeView) }, { $id: 'RebootResult' });
export const IdentifyResult = Type.Object({ sent: Type.Boolean(), seconds: Int() }, { $id: 'IdentifyResult' });
export const RemovedNode = Type.Object({ removed: Str() }, { $id: 'RemovedNode' });

// ── the UI's own reads (/api/ui/*, dispatcher/ui/plugin.ts) ──
export const UiSession = Type.Object({ role: Opt(Type.Union([Type.Literal('admin'), Type.Literal('viewer')])), version: Str() }, { $id: 'UiSession' });
export const MinuteCount = Type.Object({ t: Num(), succeeded: Int(), failed: Int(), cancelled: Int() }, { $id: 'MinuteCount' });
export const Throughput = Type.Array(ref(MinuteCount), { $id: 'Throughput' });
export const HealthSample = Type.Object(
  { t: Num(), cpuPercent: Opt(Num()), load1: Opt(Num()), memUsedPercent: Opt(Num()), temperatureC: Opt(Num()), throttled: Opt(Int()) },
  { $id: 'HealthSample' },
);
export const HealthHistory = Type.Array(ref(HealthSample), { $id: 'HealthHistory' });
export const FeedItem = Type.Union(
  [Type.Object({ type: Type.Literal('node'), ...NodeEventView.properties }), Type.Object({ type: Type.Literal('boot'), ...BootEventView.properties })],
  { $id: 'FeedItem' },
);
export const Feed = Type.Array(ref(FeedItem), { $id: 'Feed' });

export const PruneReport = Type.Object(
  { jobs: Int(), attempts: Int(), artifacts: Int(), history: Int(), batches: Int(), ms: Int() },
  { $id: 'PruneReport', description: 'What a prune deleted: finished jobs, their attempts, artifact blobs, history rows; in how many batches' },
);

/** Every response schema, registered with `app.addSchema` so routes can `Type.Ref` them. */
export const RESPONSE_SCHEMAS: readonly TSchema[] = [
  JobView,
  AttemptView,
  ResultView,
  FullJob,
  WaitedJob,
  JobList,
  JobCounts,
  JobOutput,
  NodeView,
  NodeList,
  NodeDetail,
  NodeEventView,
  NodeEventList,
  BootEventView,
  BootEventList,
  Overview,
  ClusterHealth,
  MasterHealth,
  PowerOpView,
  PowerOpList,
  AlertView,
  AlertList,
  NodePower,
  RebootResult,
  IdentifyResult,
  RemovedNode,
  UiSession,
  MinuteCount,
  Throughput,
  HealthSample,
  HealthHistory,
  FeedItem,
  Feed,
  PruneReport,
];

/** The types clients and the UI use, by schema `$id`. */
export interface ApiShapes {
  Job: Static<typeof JobView>;
  Attempt: Static<typeof AttemptView>;
  Result: Static<typeof ResultView>;
  FullJob: Static<typeof FullJob>;
  WaitedJob: Static<typeof WaitedJob>;
  JobList: Static<typeof JobList>;
  JobCounts: Static<typeof JobCounts>;
  JobOutput: Static<typeof JobOutput>;
  Node: Static<typeof NodeView>;
  NodeList: Static<typeof NodeList>;
  NodeDetail: Static<typeof NodeDetail>;
  NodeEvent: Static<typeof NodeEventView>;
  NodeEventList: Static<typeof NodeEventList>;
  BootEvent: Static<typeof BootEventView>;
  BootEventList: Static<typeof BootEventList>;
  Overview: Static<typeof Overview>;
  ClusterHealth: Static<typeof ClusterHealth>;
  MasterHealth: Static<typeof MasterHealth>;
  PowerOp: Static<typeof PowerOpView>;
  PowerOpList: Static<typeof PowerOpList>;
  Alert: Static<typeof AlertView>;
  AlertList: Static<typeof AlertList>;
  NodePower: Static<typeof NodePower>;
  RebootResult: Static<typeof RebootResult>;
  IdentifyResult: Static<typeof IdentifyResult>;
  RemovedNode: Static<typeof RemovedNode>;
  UiSession: Static<typeof UiSession>;
  MinuteCount: Static<typeof MinuteCount>;
  HealthSample: Static<typeof HealthSample>;
  FeedItem: Static<typeof FeedItem>;
  PruneReport: Static<typeof PruneReport>;
  /** Request bodies and shared parts the client also builds. */
  JobSpec: Static<typeof JobSpec>;
  Requirements: Static<typeof Requirements>;
  Health: Static<typeof Health>;
}
