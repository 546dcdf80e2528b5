/**
 * Real processes, one master and two agents: a frozen agent's jobs are requeued within three
 * heartbeat intervals and finish elsewhere; timeout and cancel kill a job's whole process tree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterHarness, waitFor } from './helpers/cluster-processes.ts';

const HEARTBEAT_MS = 500;
const harness = new ClusterHarness({ PICLUSTER_SCHEDULER__HEARTBEAT_MS: String(HEARTBEAT_MS), PICLUSTER_SCHEDULER__RETRY_BACKOFF_MS: '0' });

beforeAll(async () => {
  await harness.startMaster();
  harness.startAgent('b1');
  harness.startAgent('b2');
  await harness.waitForNodes(['b1', 'b2']);
}, 60_000);
afterAll(() => harness.stop(), 30_000);

interface JobView {
  id: number;
  state: string;
  node?: string;
  reason?: string;
  attempts: number;
  attemptList: { id: number; node: string; state: string; reason?: string }[];
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Submits a job that forks a sleeping grandchild and prints its pid; returns the job id and that pid. */
async function treeJob(extra: Record<string, unknown> = {}): Promise<{ id: number; childPid: number }> {
  const job = await harness.api<{ id: number }>('POST', '/api/jobs', { argv: ['sh', '-c', 'sleep 300 & echo $!; wait'], retries: 0, ...extra });
  const childPid = await waitFor(
    'child pid in live output',
    async () => {
      const out = await harness.api<{ stdout: string }>('GET', `/api/jobs/${job.id}/output`);
      const m = /^(\d+)\s*$/m.exec(out.stdout);
      return m ? Number(m[1]) : undefined;
    },
    20_000,
  );
  expect(alive(childPid)).toBe(true);
  return { id: job.id, childPid };
}

describe('spine lifecycle with real processes', () => {
  it('cancel kills the whole process tree and the job ends cancelled', { timeout: 60_000 }, async () => {
    const { id, childPid } = await treeJob();
    const r = await harness.api<{ state: string; cancelRequested?: boolean }>('DELETE', `/api/jobs/${id}`);
    expect(r).toMatchObject({ state: 'running', cancelRequested: true });
    const done = await harness.api<JobView & { done: boolean }>('GET', `/api/jobs/${id}/wait?timeoutMs=20000`);
    expect(done).toMatchObject({ done: true, state: 'cancelled' });
    await waitFor('grandchild gone', () => !alive(childPid), 10_000);
  });

  it('a timeout kills the whole process tree and the job ends failed with reason "timed out"', { timeout: 60_000 }, async () => {
    const { id, childPid } = await treeJob({ timeoutMs: 1500 });
    const done = await harness.api<JobView & { done: boolean }>('GET', `/api/jobs/${id}/wait?timeoutMs=20000`);
    expect(done).toMatchObject({ done: true, state: 'failed', reason: 'timed out' });
    expect(done.attemptList[0]).toMatchObject({ state: 'timed-out' });
    await waitFor('grandchild gone', () => !alive(childPid), 10_000);
  });

  it('a frozen agent is lost within three heartbeat intervals; its job is requeued and finishes elsewhere', { timeout: 60_000 }, async () => {
    const job = await harness.api<{ id: number }>('POST', '/api/jobs', { argv: ['sh', '-c', 'sleep 1; echo finished'], retries: 2 });
    const first = await waitFor('job running', async () => {
      const j = await harness.api<JobView>('GET', `/api/jobs/${job.id}`);
      return j.state === 'running' ? j : undefined;
    });
    const victim = harness.agents.get(first.node!)!;
    const frozenAt = Date.now();
    process.kill(victim.pid, 'SIGSTOP');
    const requeuedAt = await waitFor(
      'job requeued',
      async () => {
        const j = await harness.api<JobView>('GET', `/api/jobs/${job.id}`);
        return j.attemptList[0]!.state === 'node-lost' ? Date.now() : undefined;
      },
      10_000,
      20,
    );
    const tookMs = requeuedAt - frozenAt;
    // Lost = three intervals without a heartbeat, checked every tenth of an interval; the
    // last heartbeat came at or before the freeze, so the bound is 3 intervals + one check + polling.
    expect(tookMs).toBeLessThanOrEqual(3 * HEARTBEAT_MS + HEARTBEAT_MS / 10 + 100);
    const done = await harness.api<JobView & { done: boolean }>('GET', `/api/jobs/${job.id}/wait?timeoutMs=20000`);
    process.kill(victim.pid, 'SIGCONT');
    expect(done).toMatchObject({ done: true, state: 'succeeded' });
    expect(done.node).not.toBe(first.node);
    expect(done.attemptList.map((a) => a.state)).toEqual(['node-lost', 'succeeded']);
    console.log(`lost node: job requeued ${tookMs} ms after the agent froze (heartbeat ${HEARTBEAT_MS} ms)`);
    // the thawed agent reconnects and becomes usable again
    await harness.waitForNodes(['b1', 'b2']);
  });
});
