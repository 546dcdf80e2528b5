/**
 * REST schemas (TypeBox): validators and types at once, and the OpenAPI document at /docs.
 */
import { Type, type Static } from '@sinclair/typebox';
import { FileRef, Limits, PythonSpec, Requirements } from '../../common/protocol.ts';
import { JOB_STATES, RETRY_CAUSES } from '../domain/jobs.ts';

export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String(),
    error: Type.String(),
    message: Type.String(),
    /** The offending field, for validation errors (`spec.argv`, `[3].priority`, …). */
    field: Type.Optional(Type.String()),
  },
  { $id: 'Error' },
);

/** A job as submitted over REST: flat, `kind` inferred from `argv` or `source` (`python` is always explicit). */
export const JobSubmissionBody = Type.Object(
  {
    kind: Type.Optional(Type.Union([Type.Literal('exec'), Type.Literal('function'), Type.Literal('python')])),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    argv: Type.Optional(Type.Array(Type.String({ maxLength: 65536 }), { minItems: 1, maxItems: 4096 })),
    env: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 65536 }))),
    stdin: Type.Optional(Type.String({ maxLength: 4 * 1024 * 1024 })),
    source: Type.Optional(Type.String({ minLength: 1, maxLength: 4 * 1024 * 1024 })),
    args: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 1024 })),
    priority: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000 })),
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** python jobs: the callable in `source`, keyword arguments, and modules shipped beside it. */
    function: Type.Optional(PythonSpec.properties.function),
    kwargs: PythonSpec.properties.kwargs,
    depends: PythonSpec.properties.depends,
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    /** Which attempt ends are retried (within `retries`); default `["node-lost", "rejected"]`: a job that fails or times out by itself is not. */
    retryOn: Type.Optional(Type.Array(Type.Union(RETRY_CAUSES.map((c) => Type.Literal(c))), { maxItems: RETRY_CAUSES.length, uniqueItems: true })),
    limits: Type.Optional(Limits),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600 * 1000 })),
    requirements: Type.Optional(Requirements),
    /** Input files (uploaded with `POST /api/files`), fetched into the job's scratch dir under `name`. */
    files: Type.Optional(Type.Array(FileRef, { maxItems: 256 })),
  },
  { additionalProperties: false, $id: 'JobSubmission' },
);
export type JobSubmissionBody = Static<typeof JobSubmissionBody>;

export const JobStateSchema = Type.Union(JOB_STATES.map((s) => Type.Literal(s)));

export const JobListQuery = Type.Object(
  {
    state: Type.Optional(
      Type.String({ description: 'one state or a comma-separated list', pattern: `^(${JOB_STATES.join('|')})(,(${JOB_STATES.join('|')}))*$` }),
    ),
    group: Type.Optional(Type.String({ maxLength: 64 })),
    node: Type.Optional(Type.String({ maxLength: 63 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 })),
  },
  { additionalProperties: false },
);

export const JobIdParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });
export const NodeNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 63 }) });

export const NodePatchBody = Type.Object(
  {
    slots: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 })),
    labels: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.\\-/]{1,63}$' }), Type.String({ maxLength: 253 }))),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const WaitQuery = Type.Object(
  { timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 300_000, default: 30_000 })) },
  { additionalProperties: false },
);

export const BootEventQuery = Type.Object(
  {
    node: Type.Optional(Type.String({ maxLength: 63 })),
    mac: Type.Optional(Type.String({ maxLength: 17 })),
    serial: Type.Optional(Type.String({ maxLength: 16 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
  },
  { additionalProperties: false },
);

export const LimitQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }, { additionalProperties: false });

/** Error answers every route may give (the error handler's body). */
export const ErrorResponses = {
  '4xx': Type.Unsafe<Static<typeof ErrorBody>>(Type.Ref('Error')),
  '5xx': Type.Unsafe<Static<typeof ErrorBody>>(Type.Ref('Error')),
};
