/**
 * Job commands and queries: submit (acknowledged only after commit), cancel (queued at once,
 * running via its node), reads of jobs, attempts, counts and output (live while running).
 */
import { JobFinishedError, JobNotFoundError } from '../domain/errors.ts';
import type { Job, JobState, NewJob } from '../domain/jobs.ts';
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

  /** Commits the jobs, then queues them; returns them in submission order. */
  submit(submissions: readonly JobSubmission[]): Job[] {
    const ctx = this.ctx;
    ctx.deps.storage?.assertWritable();
    const now = ctx.clock.now();
    const newJobs: NewJob[] = submissions.map((s) => ({
      ...(s.name !== undefined ? { name: s.name } : {}),
      spec: s.spec,
      priority: s.priority ?? 0,
      group: s.group ?? 'default',
      retries: s.retries ?? ctx.settings.defaultRetries,
      ...(s.retryOn !== undefined ? { retryOn: s.retryOn } : {}),
      ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      requirements: s.requirements ?? {},
    }));
    const jobs = ctx.store.insertJobs(newJobs, now);
    for (const job of jobs) {
      ctx.queue.enqueue(job, now);
      ctx.emit('job', job);
    }
    ctx.requestSchedule();
    return jobs;
  }

  getJob(id: number): Job {
    const job = this.ctx.store.getJob(id);
    if (!job) throw new JobNotFoundError(id);
    return job;
  }

  getJobWithAttempts(id: number) {
    const job = this.getJob(id);
    return { ...job, attemptList: this.ctx.store.listAttempts(id) };
  }

  listJobs(query: JobQuery) {
    return this.ctx.store.listJobs(query);
  }

  jobCounts(): Record<JobState, number> {
    return this.ctx.store.countJobsByState();
  }

  /** Output of the job's current or last attempt: live while running, stored once ended. */
  jobOutput(id: number): JobOutput {
    const job = this.getJob(id);
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
    const r = this.ctx.store.getAttempt(attemptId)?.result;
    return {
      attemptId,
      running: false,
      stdout: r?.stdout ?? '',
      stderr: r?.stderr ?? '',
      stdoutTruncated: r?.stdoutTruncated ?? 0,
      stderrTruncated: r?.stderrTruncated ?? 0,
    };
  }

  /** Cancels a queued job at once; a running one is killed on its node and ends `cancelled`. */
  cancel(id: number, actor = 'admin'): Job {
    const ctx = this.ctx;
    const job = this.getJob(id);
    const now = ctx.clock.now();
    if (job.state === 'queued') {
      if (ctx.store.cancelQueuedJob(id, `cancelled by ${actor}`, now)) {
        ctx.queue.remove(id);
        const cancelled = this.getJob(id);
        ctx.emit('job', cancelled);
        return cancelled;
      }
    } else if (job.state === 'running' && job.currentAttemptId !== undefined) {
      ctx.store.markCancelRequested(id);
      const run = ctx.running.get(job.currentAttemptId);
      if (run) {
        run.job = { ...run.job, cancelRequested: true };
        this.registry.nodes.get(run.node)?.link?.send({ type: 'cancel', attemptId: run.attemptId, reason: `cancelled by ${actor}` });
      }
      const marked = this.getJob(id);
      ctx.emit('job', marked);
      return marked;
    }
    throw new JobFinishedError(id, job.state);
  }
}
