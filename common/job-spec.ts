/**
 * What a job is, on the wire and in the REST API: its spec (exec, function or python), the
 * requirements a node must meet and the limits it runs under. Declared once here; the agent
 * protocol (protocol.ts) and the REST schemas import it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { FileRef } from './files.ts';

export const Id = Type.Integer({ minimum: 1 });
export const Str = (max = 256) => Type.String({ maxLength: max });

export const Requirements = Type.Object(
  {
    /** Every label must be present on the node with this value (`"*"` = any value). */
    labels: Type.Optional(Type.Record(Str(63), Str(253))),
    cpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
    memoryMb: Type.Optional(Type.Integer({ minimum: 1, maximum: 1 << 30 })),
    /** Node.js `process.arch`: `arm64`, `x64`, `arm`, … */
    arch: Type.Optional(Str(16)),
    /** Pin to one node by name. */
    node: Type.Optional(Str(63)),
  },
  { additionalProperties: false },
);
export type Requirements = Static<typeof Requirements>;

/**
 * Enforced per-job limits (cgroup v2 `memory.max`, `cpu.max`, `pids.max`) on agents that have the
 * controllers; elsewhere the job runs unlimited and the result's `accounting.unenforced` says so.
 * The REST layer fills `memoryMb` from `requirements.memoryMb` when `limits` does not set it.
 */
export const Limits = Type.Object(
  {
    memoryMb: Type.Optional(Type.Integer({ minimum: 1, maximum: 1 << 30 })),
    /** CPU bandwidth in CPUs (0.5 = half of one CPU). */
    cpus: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 4096 })),
    pids: Type.Optional(Type.Integer({ minimum: 1, maximum: 4_194_304 })),
  },
  { additionalProperties: false },
);
export type Limits = Static<typeof Limits>;

const Files = Type.Optional(Type.Array(FileRef, { maxItems: 256 }));

export const ExecSpec = Type.Object(
  {
    kind: Type.Literal('exec'),
    argv: Type.Array(Str(64 * 1024), { minItems: 1, maxItems: 4096 }),
    env: Type.Optional(Type.Record(Str(256), Str(64 * 1024))),
    stdin: Type.Optional(Type.String({ maxLength: 4 * 1024 * 1024 })),
    limits: Type.Optional(Limits),
    files: Files,
  },
  { additionalProperties: false },
);
export type ExecSpec = Static<typeof ExecSpec>;

export const FunctionSpec = Type.Object(
  {
    kind: Type.Literal('function'),
    /** An ES module whose default export is called as `await fn(...args)` on the node. */
    source: Type.String({ minLength: 1, maxLength: 4 * 1024 * 1024 }),
    /** JSON arguments. */
    args: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 1024 })),
    env: Type.Optional(Type.Record(Str(256), Str(64 * 1024))),
    limits: Type.Optional(Limits),
    files: Files,
  },
  { additionalProperties: false },
);
export type FunctionSpec = Static<typeof FunctionSpec>;

/** A Python identifier (the function's name) and a module file name beside the job (`helpers.py`). */
export const PY_IDENTIFIER = '^[A-Za-z_][A-Za-z0-9_]{0,127}$';
export const PY_MODULE_FILE = '^[A-Za-z_][A-Za-z0-9_]{0,127}\\.py$';

/**
 * The dispy "computation": `source` is a Python module, `function` names the callable in it, run
 * by the node's python3 in the job's scratch dir as `function(*args, **kwargs)`; its JSON return
 * value is the result, an exception fails the attempt with the traceback. `depends` are modules
 * written beside it (importable by name), shipped inline as source.
 */
export const PythonSpec = Type.Object(
  {
    kind: Type.Literal('python'),
    source: Type.String({ minLength: 1, maxLength: 4 * 1024 * 1024 }),
    function: Type.String({ pattern: PY_IDENTIFIER }),
    args: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 1024 })),
    kwargs: Type.Optional(Type.Record(Type.String({ pattern: PY_IDENTIFIER }), Type.Unknown())),
    depends: Type.Optional(
      Type.Array(
        Type.Object({ name: Type.String({ pattern: PY_MODULE_FILE }), source: Type.String({ maxLength: 4 * 1024 * 1024 }) }, { additionalProperties: false }),
        { maxItems: 64 },
      ),
    ),
    env: Type.Optional(Type.Record(Str(256), Str(64 * 1024))),
    limits: Type.Optional(Limits),
    files: Files,
  },
  { additionalProperties: false },
);
export type PythonSpec = Static<typeof PythonSpec>;

export const JobSpec = Type.Union([ExecSpec, FunctionSpec, PythonSpec]);
export type JobSpec = Static<typeof JobSpec>;
