/**
 * Job commands and queries: submit (acknowledged only after the pump's commit that inserts it), cancel (queued at once,
 * running via its node), reads of jobs, attempts, counts and output (live while running).
 */
import { JobFinishedError, JobNotFoundError } from '../domain/errors.ts';
import { ValidationError, type Problem } from '../../common/errors.ts';
import { StoreError } from '../store/errors.ts';
import { isTerminalJob, type Job, type JobState, type NewJob } from '../domain/jobs.ts';
import type { JobQuery } from '../store/store.ts';
import type { DispatcherContext, JobSubmission } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';

export interface JobOutput {
  attemptId?: number;
  running: boolean;
  stdout: string;
  stderr: string;
  stdoutTruncated: number;
  stderrTruncated: number;
}

export class JobCommands {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
  ) {}

  /**
   * Commits the jobs, then queues (or starts) them; returns them in submission order, as inserted.
   * The insert is the next pump's (pump.ts: every submit waiting then shares its transaction and
   * its commit), so a burst of small submits costs one durable commit, not one each. What the
   * store will have to serialize is checked here, so a job it cannot write fails its own submit
   * (400), not the shared commit.
   */
  submit(submissions: readonly JobSubmission[]): Promise<Job[]> {
    const ctx = this.ctx;
    try {
      ctx.deps.storage?.assertWritable();
    } catch (e) {
      return Promise.reject(e);
    }
    const jobs: NewJob[] = submissions.map((s) => ({
      ...(s.name !== undefined ? { name: s.name } : {}),
      spec: s.spec,
      priority: s.priority ?? 0,
      group: s.group ?? 'default',
      retries: s.retries ?? ctx.settings.defaultRetries,
      ...(s.retryOn !== undefined ? { retryOn: s.retryOn } : {}),
      ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      requirements: s.requirements ?? {},
    }));
    if (jobs.length === 0) return Promise.resolve([]);
    const problems = unserializable(jobs, submissions.length > 1);
    if (problems.length) return Promise.reject(new ValidationError('invalid job (nothing was submitted)', problems.slice(0, 20)));
    return new Promise<Job[]>((resolve, reject) => {
      ctx.submits.push({ jobs, resolve, reject });
      ctx.requestSchedule();
    });
  }

  async getJob(id: number): Promise<Job> {
    const job = await this.ctx.store.getJob(id);
    if (!job) throw new JobNotFoundError(id);
    return job;
  }

  async getJobWithAttempts(id: number) {
    const job = await this.getJob(id);
    return { ...job, attemptList: await this.ctx.store.listAttempts(id) };
  }

  listJobs(query: JobQuery): Promise<{ jobs: Job[]; total: number }> {
    return this.ctx.store.listJobs(query);
  }

  jobCounts(): Promise<Record<JobState, number>> {
    return this.ctx.store.countJobsByState();
  }

  /** Output of the job's current or last attempt: live while running, stored once ended. */
  async jobOutput(id: number): Promise<JobOutput> {
    const job = await this.getJob(id);
    const attemptId = job.currentAttemptId ?? job.lastAttemptId;
    if (attemptId === undefined) return { running: false, stdout: '', stderr: '', stdoutTruncated: 0, stderrTruncated: 0 };
    const live = this.ctx.running.get(attemptId);
    if (live) {
      return {
        attemptId,
        running: true,
        stdout: live.output?.stdout.text() ?? '',
        stderr: live.output?.stderr.text() ?? '',
        stdoutTruncated: live.output?.stdout.dropped ?? 0,
        stderrTruncated: live.output?.stderr.dropped ?? 0,
      };
    }
    const r = (await this.ctx.store.getAttempt(attemptId))?.result;
    return {
      attemptId,
      running: false,
      stdout: r?.stdout ?? '',
      stderr: r?.stderr ?? '',
      stdoutTruncated: r?.stdoutTruncated ?? 0,
      stderrTruncated: r?.stderrTruncated ?? 0,
    };
  }

  /**
   * Cancels a queued job at once; a running one is killed on its node and ends `cancelled`. A job
   * the pump is handing out meanwhile is no longer queued when the store answers: it is then
   * cancelled as a running one (the pump sends the cancel right after its assign).
   */
  async cancel(id: number, actor = 'admin'): Promise<Job> {
    const ctx = this.ctx;
    let job = await this.getJob(id);
    for (let round = 0; round < 3; round++) {
      const now = ctx.clock.now();
      if (job.state === 'queued') {
        if (await ctx.store.cancelQueuedJob(id, `cancelled by ${actor}`, now)) {
          ctx.queue.remove(id);
          const cancelled = await this.getJob(id);
          ctx.emit('job', cancelled);
          return cancelled;
        }
      } else if (job.state === 'running' && job.currentAttemptId !== undefined) {
        const markedInStore = await ctx.store.markCancelRequested(id);
        const reason = `cancelled by ${actor}`;
        const run = ctx.running.get(job.currentAttemptId);
        const handing = ctx.handingOut.get(id);
        if (!markedInStore || ctx.resyncDue || (!run && !handing)) {
          // Its attempt's end is claimed (a result, a lost node) and being committed, or waits for
          // the next pump, or memory is being rebuilt from the store: run that pump (or join it);
          // the job is then queued again (and cancelled here), finished, or running in the
          // rebuilt view (and its agent told here).
          await ctx.pumpNow();
          job = await this.getJob(id);
          continue;
        }
        if (run) {
          run.job = { ...run.job, cancelRequested: true };
          this.registry.nodes.get(run.node)?.link?.send({ type: 'cancel', attemptId: run.attemptId, reason });
        } else if (handing) handing.cancel = reason;
        const marked = await this.getJob(id);
        ctx.emit('job', marked);
        return marked;
      } else break;
      job = await this.getJob(id); // it moved while the store answered (handed out, or ended)
    }
    if (!isTerminalJob(job.state))
      throw new StoreError(`job ${id} is ${job.state}: its cancel did not take (the store refuses commits, or the job kept moving); ask again`);
    throw new JobFinishedError(id, job.state);
  }
}

/** The fields a store writes as JSON that cannot be (nested too deeply for the stack, a BigInt, a cycle). */
function unserializable(jobs: readonly NewJob[], batch: boolean): Problem[] {
  const problems: Problem[] = [];
  jobs.forEach((j, i) => {
    for (const [field, value] of [
      ['spec', j.spec],
      ['requirements', j.requirements],
      ['retryOn', j.retryOn],
    ] as const) {
      if (value === undefined && field === 'retryOn') continue;
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (e) {
        problems.push({ path: `${batch ? `[${i}].` : ''}${field}`, message: `cannot be stored as JSON: ${(e as Error).message}` });
        continue;
      }
      if (typeof text !== 'string') problems.push({ path: `${batch ? `[${i}].` : ''}${field}`, message: 'is required' });
    }
  });
  return problems;
}
