import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValidationError, type Problem } from '../../common/errors.ts';
import { toDotted } from '../../common/config.ts';
import { fileNameProblem, type JobSpec } from '../../common/protocol.ts';
import type { Dispatcher, JobSubmission } from '../dispatcher.ts';
import { JOB_STATES, isTerminalJob, type Job, type JobState } from '../domain/jobs.ts';
import { requireRole, type AuthSettings } from './auth.ts';
import { FullJob, JobCounts, JobList, JobOutput, JobView, WaitedJob, ref } from './api-schemas.ts';
import { ErrorResponses, JobIdParams, JobListQuery, JobSubmissionBody, WaitQuery, type JobSubmissionBody as Submission } from './schemas.ts';
import { attemptView, jobView, resultView } from './serialize.ts';

const MAX_BATCH = 10_000;
const submissionChecker = TypeCompiler.Compile(JobSubmissionBody);

/** What job validation asks of the master's input files: the size of a stored file, if any. */
export interface KnownFiles {
  stat(sha256: string): { sizeBytes: number } | undefined;
}

/**
 * How deep `args` and `kwargs` may nest. JSON.parse takes any depth; what serializes the job
 * later (the store's JSON, the assign frame) recurses and would throw on the shared commit.
 */
const MAX_NESTING = 256;

/** Whether arrays/objects in `value` nest deeper than `max` (iterative: the check itself cannot overflow). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let n = 0; stack.length && n < 10_000_000; n++) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** Validates one submission (schema + which fields a kind needs); problems carry their path. */
function toSubmission(body: unknown, prefix: string, problems: Problem[], known?: KnownFiles): JobSubmission | undefined {
  if (!submissionChecker.Check(body)) {
    const e = submissionChecker.Errors(body).First()!;
    const missing = (e.schema as { required?: string[] }).required;
    void missing;
    problems.push({ path: `${prefix}${prefix && e.path ? '.' : ''}${toDotted(e.path)}` || '(body)', message: e.message });
    return undefined;
  }
  const b: Submission = body;
  const at = (f: string) => (prefix ? `${prefix}.${f}` : f);
  const kind = b.kind ?? (b.source !== undefined ? 'function' : 'exec');
  const misplaced = (fields: readonly (keyof Submission)[], message: string) => {
    const f = fields.find((k) => b[k] !== undefined);
    if (f) problems.push({ path: at(f), message });
  };
  if (kind === 'exec') {
    if (!b.argv) problems.push({ path: at('argv'), message: 'an exec job needs argv (an array of strings, the program first)' });
    misplaced(
      ['source', 'args', 'function', 'kwargs', 'depends'],
      'source/args/function/kwargs/depends belong to function and python jobs; exec jobs take argv',
    );
    if (!b.argv) return undefined;
  } else {
    const python = kind === 'python';
    if (!b.source)
      problems.push({
        path: at('source'),
        message: python
          ? 'a python job needs source (a Python module defining the function)'
          : 'a function job needs source (an ES module with a default export)',
      });
    if (python && !b.function) problems.push({ path: at('function'), message: 'a python job needs function (the name of the callable in source)' });
    misplaced(['argv', 'stdin'], 'argv/stdin belong to exec jobs');
    if (!python) misplaced(['function', 'kwargs', 'depends'], 'function/kwargs/depends belong to python jobs (kind: "python")');
    const seen = new Set<string>();
    (b.depends ?? []).forEach((d, i) => {
      if (seen.has(d.name)) problems.push({ path: at(`depends[${i}].name`), message: `two modules named ${d.name}` });
      seen.add(d.name);
    });
    for (const f of ['args', 'kwargs'] as const)
      if (b[f] !== undefined && nestedDeeperThan(b[f], MAX_NESTING))
        problems.push({ path: at(f), message: `nested more than ${MAX_NESTING} levels deep (arrays and objects inside each other)` });
    if (!b.source || (python && !b.function)) return undefined;
  }
  const names = new Set<string>();
  const before = problems.length;
  (b.files ?? []).forEach((f, i) => {
    const nameProblem = fileNameProblem(f.name);
    if (nameProblem) problems.push({ path: at(`files[${i}].name`), message: nameProblem });
    else if (names.has(f.name) || (b.depends ?? []).some((d) => d.name === f.name))
      problems.push({ path: at(`files[${i}].name`), message: `two files named ${f.name}` });
    names.add(f.name);
    const stored = known?.stat(f.sha256);
    if (!stored) problems.push({ path: at(`files[${i}].sha256`), message: `unknown file ${f.sha256} (${f.name}): upload it first with POST /api/files` });
    else if (stored.sizeBytes !== f.sizeBytes)
      problems.push({
        path: at(`files[${i}].sizeBytes`),
        message: `file ${f.sha256} (${f.name}) has ${stored.sizeBytes} bytes on the master, not ${f.sizeBytes}`,
      });
  });
  if (problems.length > before) return undefined;
  // requirements.memoryMb is also the job's enforced memory limit unless limits says otherwise.
  const memoryMb = b.limits?.memoryMb ?? b.requirements?.memoryMb;
  const limits = { ...(b.limits ?? {}), ...(memoryMb !== undefined ? { memoryMb } : {}) };
  const common = { ...(b.env ? { env: b.env } : {}), ...(Object.keys(limits).length ? { limits } : {}), ...(b.files?.length ? { files: b.files } : {}) };
  const spec: JobSpec =
    kind === 'exec'
      ? { kind: 'exec', argv: b.argv!, ...(b.stdin !== undefined ? { stdin: b.stdin } : {}), ...common }
      : kind === 'function'
        ? { kind: 'function', source: b.source!, ...(b.args ? { args: b.args } : {}), ...common }
        : {
            kind: 'python',
            source: b.source!,
            function: b.function!,
            ...(b.args ? { args: b.args } : {}),
            ...(b.kwargs ? { kwargs: b.kwargs } : {}),
            ...(b.depends ? { depends: b.depends } : {}),
            ...common,
          };
  return {
    spec,
    ...(b.name !== undefined ? { name: b.name } : {}),
    ...(b.priority !== undefined ? { priority: b.priority } : {}),
    ...(b.group !== undefined ? { group: b.group } : {}),
    ...(b.retries !== undefined ? { retries: b.retries } : {}),
    ...(b.retryOn !== undefined ? { retryOn: b.retryOn } : {}),
    ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}),
    ...(b.requirements !== undefined ? { requirements: b.requirements } : {}),
  };
}

export function parseSubmissions(body: unknown, known?: KnownFiles): { submissions: JobSubmission[]; batch: boolean } {
  const problems: Problem[] = [];
  const batch = Array.isArray(body);
  if (body === undefined || body === null)
    throw new ValidationError('invalid job', [{ path: '(body)', message: 'a JSON job object or an array of them is required' }]);
  const items = batch ? (body as unknown[]) : [body];
  if (batch && items.length === 0) problems.push({ path: '(body)', message: 'the array is empty' });
  if (items.length > MAX_BATCH) problems.push({ path: '(body)', message: `at most ${MAX_BATCH} jobs per request` });
  const submissions: JobSubmission[] = [];
  if (!problems.length) {
    items.forEach((item, i) => {
      const s = toSubmission(item, batch ? `[${i}]` : '', problems, known);
      if (s) submissions.push(s);
    });
  }
  if (problems.length) throw new ValidationError(batch ? 'invalid jobs (nothing was submitted)' : 'invalid job', problems.slice(0, 20));
  return { submissions, batch };
}

export function registerJobRoutes(
  fastify: FastifyInstance,
  dispatcher: Dispatcher,
  auth: AuthSettings,
  options: { bodyLimitBytes?: number; files?: KnownFiles } = {},
): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const admin = requireRole('admin', auth);
  const viewer = requireRole('viewer', auth);

  app.post(
    '/api/jobs',
    {
      onRequest: admin,
      // The only route with big bodies (job specs carry sources and stdin); the rest keep the app's small limit.
      bodyLimit: options.bodyLimitBytes ?? 8 * 1024 * 1024,
      schema: {
        tags: ['jobs'],
        summary: 'Submit one job or an array of jobs; answered after they are committed',
        body: Type.Union([Type.Ref(JobSubmissionBody), Type.Array(Type.Ref(JobSubmissionBody), { maxItems: MAX_BATCH })]),
        response: { 201: Type.Union([ref(JobView), Type.Array(ref(JobView))]), ...ErrorResponses },
      },
      // Validation is done here, per item, so errors name the item and field.
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const { submissions, batch } = parseSubmissions(req.body, options.files);
      const jobs = await dispatcher.submit(submissions);
      reply.status(201);
      return batch ? jobs.map(jobView) : jobView(jobs[0]!);
    },
  );

  app.get(
    '/api/jobs',
    {
      onRequest: viewer,
      schema: { tags: ['jobs'], summary: 'List jobs, newest first', querystring: JobListQuery, response: { 200: ref(JobList), ...ErrorResponses } },
    },
    async (req) => {
      const q = req.query;
      const { jobs, total } = await dispatcher.listJobs({
        ...(q.state ? { state: q.state.split(',').filter(isJobState) } : {}),
        ...(q.group ? { group: q.group } : {}),
        ...(q.node ? { node: q.node } : {}),
        limit: q.limit ?? 100,
        offset: q.offset ?? 0,
      });
      return { total, limit: q.limit ?? 100, offset: q.offset ?? 0, jobs: jobs.map(jobView) };
    },
  );

  app.get(
    '/api/jobs/status',
    { onRequest: viewer, schema: { tags: ['jobs'], summary: 'Job counts by state', response: { 200: ref(JobCounts), ...ErrorResponses } } },
    async () => dispatcher.jobCounts(),
  );

  app.get(
    '/api/jobs/:id',
    {
      onRequest: viewer,
      schema: { tags: ['jobs'], summary: 'One job with its attempts and result', params: JobIdParams, response: { 200: ref(FullJob), ...ErrorResponses } },
    },
    async (req) => fullJob(dispatcher, await dispatcher.getJob(req.params.id)),
  );

  app.get(
    '/api/jobs/:id/output',
    {
      onRequest: viewer,
      schema: {
        tags: ['jobs'],
        summary: 'stdout/stderr of the current or last attempt',
        params: JobIdParams,
        response: { 200: ref(JobOutput), ...ErrorResponses },
      },
    },
    async (req) => dispatcher.jobOutput(req.params.id),
  );

  app.get(
    '/api/jobs/:id/wait',
    {
      onRequest: viewer,
      schema: {
        tags: ['jobs'],
        summary: 'Long-poll: answers when the job has ended or after timeoutMs',
        params: JobIdParams,
        querystring: WaitQuery,
        response: { 200: ref(WaitedJob), ...ErrorResponses },
      },
    },
    async (req) => {
      const { id } = req.params;
      const { timeoutMs = 30_000 } = req.query;
      let job = await dispatcher.getJob(id);
      if (!isTerminalJob(job.state) && timeoutMs > 0) {
        job = await new Promise<Job>((resolve) => {
          const onJob = (j: Job) => {
            if (j.id === id && isTerminalJob(j.state)) done(j);
          };
          const timer = setTimeout(() => dispatcher.getJob(id).then(done, () => done(job)), timeoutMs);
          const onClose = () => done(job);
          const done = (j: Job) => {
            clearTimeout(timer);
            dispatcher.off('job', onJob);
            req.raw.off('close', onClose);
            resolve(j);
          };
          dispatcher.on('job', onJob);
          req.raw.on('close', onClose);
        });
      }
      return { done: isTerminalJob(job.state), ...(await fullJob(dispatcher, job)) };
    },
  );

  app.delete(
    '/api/jobs/:id',
    {
      onRequest: admin,
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a job (a running one is killed on its node)',
        params: JobIdParams,
        response: { 200: ref(JobView), ...ErrorResponses },
      },
    },
    async (req) => jobView(await dispatcher.cancel(req.params.id, 'admin')),
  );
}

const isJobState = (s: string): s is JobState => (JOB_STATES as readonly string[]).includes(s);

async function fullJob(dispatcher: Dispatcher, job: Job) {
  const attempts = (await dispatcher.getJobWithAttempts(job.id)).attemptList;
  const result = resultView(job, attempts);
  return { ...jobView(job), attemptList: attempts.map(attemptView), ...(result ? { result } : {}) };
}
