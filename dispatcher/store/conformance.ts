/**
 * One conformance suite for every store engine, on the asynchronous contract. Each engine's
 * test file calls `storeConformance(name, factory)` (embedded engines through `asyncStore()`).
 */
import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import type { NewJob } from '../domain/jobs.ts';
import type { NodeRecord } from '../domain/nodes.ts';
import { attemptBatchCases } from './conformance-batches.ts';
import type { AsyncStore } from './store.ts';

const newJob = (o: Partial<NewJob> = {}): NewJob => ({
  spec: { kind: 'exec', argv: ['echo', 'hi'] },
  priority: 0,
  group: 'default',
  retries: 2,
  requirements: {},
  ...o,
});

const nodeRecord = (name: string, o: Partial<NodeRecord> = {}): NodeRecord => ({
  name,
  labels: {},
  source: 'inventory',
  state: 'offline',
  stateSince: 1,
  boots: 0,
  jobsDone: 0,
  jobsFailed: 0,
  cpuMs: 0,
  ...o,
});

export interface ConformanceOptions {
  /** False for engines without rollback (memory): the rollback case is skipped. */
  readonly rollsBack?: boolean;
}

export function storeConformance(name: string, factory: () => AsyncStore | Promise<AsyncStore>, opts: ConformanceOptions = {}): void {
  describe(`Store conformance: ${name}`, () => {
    let store: AsyncStore;
    beforeEach(async () => {
      store = await factory();
    });
    afterEach(async () => {
      await store.close();
    });

    it('inserts jobs in order with increasing ids, queued, round-tripping every field', async () => {
      const jobs = await store.insertJobs(
        [
          newJob({ name: 'a', priority: 5, group: 'g1', timeoutMs: 1000, requirements: { labels: { rack: 'a' }, cpus: 2, arch: 'arm64' } }),
          newJob({ spec: { kind: 'function', source: 'export default (x) => x * 2', args: [21] } }),
        ],
        100,
      );
      expect(jobs.map((j) => j.state)).toEqual(['queued', 'queued']);
      expect(jobs[1]!.id).toBeGreaterThan(jobs[0]!.id);
      expect(await store.getJob(jobs[0]!.id)).toEqual(jobs[0]);
      expect(await store.getJob(jobs[0]!.id)).toMatchObject({
        name: 'a',
        priority: 5,
        group: 'g1',
        retries: 2,
        timeoutMs: 1000,
        attempts: 0,
        submittedAt: 100,
        availableAt: 100,
        cancelRequested: false,
        requirements: { labels: { rack: 'a' }, cpus: 2, arch: 'arm64' },
      });
      expect((await store.getJob(jobs[1]!.id))!.spec).toEqual({ kind: 'function', source: 'export default (x) => x * 2', args: [21] });
      expect(await store.getJob(999_999)).toBeUndefined();
    });

    it('round-trips retryOn, and leaves it absent (the default) when not given', async () => {
      const [a, b] = await store.insertJobs([newJob({ retryOn: ['failure', 'timeout'] }), newJob()], 1);
      expect((await store.getJob(a!.id))!.retryOn).toEqual(['failure', 'timeout']);
      expect(await store.getJob(b!.id)).not.toHaveProperty('retryOn');
      await store.startAttempts([{ jobId: a!.id, node: 'n1' }], 2);
      expect(await store.getJob(a!.id)).toMatchObject({ state: 'running', retryOn: ['failure', 'timeout'] });
    });

    it('starts attempts with monotonically increasing ids and skips jobs not queued', async () => {
      const [a, b] = await store.insertJobs([newJob(), newJob()], 1);
      const started = await store.startAttempts(
        [
          { jobId: a!.id, node: 'n1' },
          { jobId: b!.id, node: 'n2' },
          { jobId: a!.id, node: 'n3' },
        ],
        2,
      );
      expect(started).toHaveLength(2);
      expect(started[1]!.attempt.id).toBeGreaterThan(started[0]!.attempt.id);
      expect(await store.getJob(a!.id)).toMatchObject({ state: 'running', attempts: 1, node: 'n1', startedAt: 2, currentAttemptId: started[0]!.attempt.id });
      expect((await store.runningAttempts()).map((x) => x.id)).toEqual(started.map((s) => s.attempt.id));
    });

    attemptBatchCases(() => store, newJob);

    it('ends an attempt exactly once; a stale attempt cannot move the job', async () => {
      const [j] = await store.insertJobs([newJob()], 1);
      const first = (await store.startAttempts([{ jobId: j!.id, node: 'n1' }], 2))[0]!.attempt;
      expect(
        await store.endAttempt({
          jobId: j!.id,
          attemptId: first.id,
          state: 'node-lost',
          at: 3,
          reason: 'node-lost',
          job: { state: 'queued', availableAt: 10, reason: 'node-lost' },
        }),
      ).toBe(true);
      expect(await store.getJob(j!.id)).toMatchObject({ state: 'queued', availableAt: 10, reason: 'node-lost', attempts: 1 });
      expect((await store.getJob(j!.id))!.currentAttemptId).toBeUndefined();
      const second = (await store.startAttempts([{ jobId: j!.id, node: 'n2' }], 11))[0]!.attempt;
      // the first attempt's late result must not be recorded
      expect(await store.endAttempt({ jobId: j!.id, attemptId: first.id, state: 'succeeded', at: 12, job: { state: 'succeeded' } })).toBe(false);
      // an attempt id paired with another job's id moves nothing
      expect(await store.endAttempt({ jobId: j!.id + 1000, attemptId: second.id, state: 'succeeded', at: 12, job: { state: 'succeeded' } })).toBe(false);
      const result = { exitCode: 0, stdout: 'hi\n', durationMs: 5, value: { x: [1, 'two'] } };
      expect(await store.endAttempt({ jobId: j!.id, attemptId: second.id, state: 'succeeded', at: 13, result, job: { state: 'succeeded' } })).toBe(true);
      expect(await store.endAttempt({ jobId: j!.id, attemptId: second.id, state: 'succeeded', at: 14, result, job: { state: 'succeeded' } })).toBe(false);
      expect(await store.getJob(j!.id)).toMatchObject({ state: 'succeeded', attempts: 2, finishedAt: 13, lastAttemptId: second.id, node: 'n2' });
      expect(await store.listAttempts(j!.id)).toMatchObject([
        { id: first.id, state: 'node-lost', node: 'n1', endedAt: 3, reason: 'node-lost' },
        { id: second.id, state: 'succeeded', node: 'n2', endedAt: 13, result },
      ]);
      expect(await store.runningAttempts()).toEqual([]);
      expect((await store.getAttempt(first.id))!.result).toBeUndefined();
    });

    it('cancels queued jobs only; marks running ones', async () => {
      const [q, r] = await store.insertJobs([newJob(), newJob()], 1);
      await store.startAttempts([{ jobId: r!.id, node: 'n' }], 2);
      expect(await store.cancelQueuedJob(q!.id, 'cancelled by admin', 3)).toBe(true);
      expect(await store.cancelQueuedJob(q!.id, 'again', 4)).toBe(false);
      expect(await store.cancelQueuedJob(r!.id, 'x', 4)).toBe(false);
      expect(await store.getJob(q!.id)).toMatchObject({ state: 'cancelled', finishedAt: 3, reason: 'cancelled by admin' });
      expect(await store.markCancelRequested(r!.id)).toBe(true);
      expect(await store.markCancelRequested(q!.id)).toBe(false);
      expect((await store.getJob(r!.id))!.cancelRequested).toBe(true);
    });

    it('lists with filters, newest first, paginated with a total', async () => {
      const jobs = await store.insertJobs(
        Array.from({ length: 7 }, (_, i) => newJob({ group: i % 2 ? 'odd' : 'even' })),
        1,
      );
      await store.startAttempts(
        [
          { jobId: jobs[0]!.id, node: 'n1' },
          { jobId: jobs[1]!.id, node: 'n2' },
        ],
        2,
      );
      const page = await store.listJobs({ limit: 3 });
      expect(page.total).toBe(7);
      expect(page.jobs.map((j) => j.id)).toEqual([jobs[6]!.id, jobs[5]!.id, jobs[4]!.id]);
      expect((await store.listJobs({ limit: 3, offset: 6 })).jobs.map((j) => j.id)).toEqual([jobs[0]!.id]);
      expect((await store.listJobs({ group: 'odd' })).total).toBe(3);
      expect((await store.listJobs({ state: 'running' })).jobs.map((j) => j.node).sort()).toEqual(['n1', 'n2']);
      expect((await store.listJobs({ state: ['running', 'queued'], node: 'n2' })).total).toBe(1);
      expect(await store.countJobsByState()).toEqual({ queued: 5, running: 2, succeeded: 0, failed: 0, cancelled: 0 });
      expect((await store.queuedJobs()).map((j) => j.id)).toEqual(jobs.slice(2).map((j) => j.id));
    });

    it('counts stale results', async () => {
      await store.recordStaleResult({ attemptId: 5, jobId: 1, node: 'n', reason: 'duplicate', at: 1 });
      await store.recordStaleResult({ attemptId: 6, reason: 'unknown', at: 2 });
      expect(await store.countStaleResults()).toBe(2);
    });

    it('keeps the removed nodes until they are added again', async () => {
      expect(await store.isNodeRemoved('gone')).toBe(false);
      await store.setNodeRemoved('gone', true, 5);
      await store.setNodeRemoved('gone', true, 6);
      await store.setNodeRemoved('other', true, 7);
      expect(await store.isNodeRemoved('gone')).toBe(true);
      await store.setNodeRemoved('gone', false, 8);
      await store.setNodeRemoved('never', false, 9);
      expect(await store.isNodeRemoved('gone')).toBe(false);
      expect(await store.isNodeRemoved('other')).toBe(true);
      expect(await store.isNodeRemoved('never')).toBe(false);
      expect(await store.listRemovedNodes()).toEqual(['other']);
    });

    it('saves, lists and deletes nodes; keeps their events newest first', async () => {
      await store.saveNode(nodeRecord('b'));
      await store.saveNode(nodeRecord('a', { labels: { rack: '1' }, slots: 2 }));
      await store.saveNode(nodeRecord('a', { labels: { rack: '2' }, state: 'online' }));
      expect((await store.listNodes()).map((n) => n.name)).toEqual(['a', 'b']);
      expect(await store.getNode('a')).toMatchObject({ labels: { rack: '2' }, state: 'online' });
      expect(await store.deleteNode('b')).toBe(true);
      expect(await store.deleteNode('b')).toBe(false);
      await store.addNodeEvent({ node: 'a', at: 1, kind: 'state', message: 'online', actor: 'agent', from: 'offline', to: 'online' });
      await store.addNodeEvent({ node: 'a', at: 2, kind: 'state', message: 'lost', actor: 'system', from: 'online', to: 'lost' });
      await store.addNodeEvent({ node: 'z', at: 3, kind: 'state', message: 'x', actor: 'system' });
      expect((await store.listNodeEvents('a')).map((e) => [e.kind, e.to, e.at])).toEqual([
        ['state', 'lost', 2],
        ['state', 'online', 1],
      ]);
      expect(await store.listNodeEvents('a', 1)).toHaveLength(1);
    });

    it('keeps boot events, queryable by node, mac and serial', async () => {
      await store.addBootEvent({ kind: 'dhcp-discover', at: 1, mac: 'b8:27:eb:00:00:01', node: 'n1', outcome: 'answered', detail: { arch: 0 } });
      await store.addBootEvent({
        kind: 'tftp-transfer',
        at: 2,
        mac: 'b8:27:eb:00:00:01',
        serial: '89eb9bb9',
        node: 'n1',
        outcome: 'complete',
        detail: { file: 'start.elf', bytes: 10 },
      });
      await store.addBootEvent({ kind: 'dhcp-ignored', at: 3, mac: 'aa:bb:cc:00:00:02', outcome: 'ignored', reason: 'unknown client' });
      expect((await store.listBootEvents({ node: 'n1' })).map((e) => e.kind)).toEqual(['tftp-transfer', 'dhcp-discover']);
      expect((await store.listBootEvents({ serial: '89eb9bb9' }))[0]).toMatchObject({ detail: { file: 'start.elf', bytes: 10 } });
      expect((await store.listBootEvents({ mac: 'aa:bb:cc:00:00:02' }))[0]).toMatchObject({ reason: 'unknown client' });
      expect(await store.listBootEvents({ limit: 2 })).toHaveLength(2);
    });

    it('counts the attempts a job lost with its node', async () => {
      const [j] = await store.insertJobs([newJob()], 1);
      const a1 = (await store.startAttempts([{ jobId: j!.id, node: 'n1' }], 2))[0]!.attempt;
      await store.endAttempt({ jobId: j!.id, attemptId: a1.id, state: 'node-lost', at: 3, job: { state: 'queued', availableAt: 3, reason: 'node-lost' } });
      const a2 = (await store.startAttempts([{ jobId: j!.id, node: 'n2' }], 4))[0]!.attempt;
      await store.endAttempt({ jobId: j!.id, attemptId: a2.id, state: 'failed', at: 5, job: { state: 'queued', availableAt: 5, reason: 'exit 1' } });
      expect((await store.getJob(j!.id))!.nodeLosses).toBe(1);
    });

    it('journals power operations: pending until completed', async () => {
      const a = await store.insertPowerOp({ node: 'n1', driver: 'snmp-poe', action: 'cycle', actor: 'recovery', at: 1 });
      const b = await store.insertPowerOp({ node: 'n2', driver: 'http', action: 'off', actor: 'admin', at: 2 });
      expect((await store.unfinishedPowerOps()).map((o) => o.id)).toEqual([a.id, b.id]);
      await store.completePowerOp(a.id, { state: 'succeeded', at: 3, verified: true, detail: 'port on' });
      await store.completePowerOp(a.id, { state: 'failed', at: 4, verified: false }); // already completed: no change
      expect((await store.unfinishedPowerOps()).map((o) => o.id)).toEqual([b.id]);
      expect(await store.listPowerOps({ node: 'n1' })).toEqual([
        {
          id: a.id,
          node: 'n1',
          driver: 'snmp-poe',
          action: 'cycle',
          state: 'succeeded',
          actor: 'recovery',
          requestedAt: 1,
          completedAt: 3,
          verified: true,
          detail: 'port on',
        },
      ]);
      expect((await store.listPowerOps({})).map((o) => o.id)).toEqual([b.id, a.id]);
    });

    it('raises an alert once per kind and node until it is resolved', async () => {
      const a = await store.raiseAlert({ kind: 'node-quarantined', node: 'n1', severity: 'critical', message: 'm', at: 1 });
      expect((await store.raiseAlert({ kind: 'node-quarantined', node: 'n1', severity: 'critical', message: 'again', at: 2 })).id).toBe(a.id);
      const cluster = await store.raiseAlert({ kind: 'circuit-breaker', severity: 'critical', message: 'storm', at: 3 });
      expect((await store.listAlerts({ open: true })).map((x) => x.id)).toEqual([cluster.id, a.id]);
      expect(await store.resolveAlert('circuit-breaker', undefined, 4)).toBe(true);
      expect(await store.resolveAlert('circuit-breaker', undefined, 5)).toBe(false);
      expect((await store.listAlerts({ open: true })).map((x) => x.id)).toEqual([a.id]);
      expect((await store.listAlerts({ open: false }))[0]).toMatchObject({ kind: 'circuit-breaker', resolvedAt: 4 });
      expect((await store.raiseAlert({ kind: 'circuit-breaker', severity: 'critical', message: 'storm 2', at: 6 })).id).not.toBe(cluster.id);
    });

    it('prunes history older than the retention, keeping the rest', async () => {
      await store.addBootEvent({ kind: 'dhcp-discover', at: 10, outcome: 'answered' });
      await store.addBootEvent({ kind: 'dhcp-discover', at: 100, outcome: 'answered' });
      await store.addNodeEvent({ node: 'n', at: 10, kind: 'k', message: 'm', actor: 'a' });
      await store.recordStaleResult({ attemptId: 1, reason: 'duplicate', at: 10 });
      await store.raiseAlert({ kind: 'x', severity: 'warning', message: 'm', at: 5 });
      await store.resolveAlert('x', undefined, 10);
      await store.raiseAlert({ kind: 'y', severity: 'warning', message: 'still open', at: 5 });
      expect(await store.pruneHistory(50)).toBe(4);
      expect((await store.listBootEvents({})).map((e) => e.at)).toEqual([100]);
      expect(await store.listNodeEvents('n')).toEqual([]);
      expect((await store.listAlerts({})).map((a) => a.kind)).toEqual(['y']);
    });

    it('prunes finished jobs older than the cutoff, in bounded batches, with attempts and stale records, naming their artifacts', async () => {
      const spec = { spec: { kind: 'exec' as const, argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} };
      const jobs = await store.insertJobs([spec, spec, spec, spec, spec], 1);
      const started = await store.startAttempts(
        jobs.slice(0, 4).map((j) => ({ jobId: j.id, node: 'n' })),
        2,
      );
      const art = (sha: string) => ({ exitCode: 0, stdout: 'o', stderr: '', artifacts: [{ name: 'a', sha256: sha, sizeBytes: 1 }] });
      const [a, b, c] = started;
      await store.endAttempt({ attemptId: a!.attempt.id, jobId: a!.jobId, state: 'succeeded', at: 10, result: art('s1'), job: { state: 'succeeded' } });
      await store.endAttempt({ attemptId: b!.attempt.id, jobId: b!.jobId, state: 'failed', at: 20, result: art('s2'), job: { state: 'failed' } });
      await store.endAttempt({ attemptId: c!.attempt.id, jobId: c!.jobId, state: 'succeeded', at: 100, result: art('s2'), job: { state: 'succeeded' } });
      await store.recordStaleResult({ attemptId: a!.attempt.id, jobId: a!.jobId, node: 'n', reason: 'duplicate', at: 11 });
      await store.cancelQueuedJob(jobs[4]!.id, 'x', 30);
      // job 4 still running, job 3 finished after the cutoff: both stay.
      expect(await store.pruneFinishedJobs(50, 2)).toEqual({ jobs: 2, attempts: 2, artifacts: expect.arrayContaining(['s1', 's2']) });
      expect(await store.countStaleResults()).toBe(0);
      expect(await store.pruneFinishedJobs(50, 2)).toEqual({ jobs: 1, attempts: 0, artifacts: [] });
      expect(await store.pruneFinishedJobs(50, 2)).toEqual({ jobs: 0, attempts: 0, artifacts: [] });
      expect(await store.getJob(jobs[0]!.id)).toBeUndefined();
      expect(await store.listAttempts(jobs[0]!.id)).toEqual([]);
      expect((await store.getJob(jobs[2]!.id))?.state).toBe('succeeded');
      expect((await store.getJob(jobs[3]!.id))?.state).toBe('running');
      expect(await store.artifactsNamed(new Set(['s1', 's2']), 0, 1000)).toEqual({ named: ['s2'], lastId: 0 });
      const paged = await store.artifactsNamed(new Set(['s2']), 0, 1);
      expect(paged.lastId).toBeGreaterThan(0);
    });

    it('caps boot and node events to a row count, deleting the oldest', async () => {
      for (let i = 1; i <= 10; i++) {
        await store.addBootEvent({ kind: 'dhcp-discover', at: i, outcome: 'answered' });
        await store.addNodeEvent({ node: 'n', at: i, kind: 'k', message: `m${i}`, actor: 'a' });
      }
      expect(await store.capHistory({ bootEvents: 3, nodeEvents: 4 })).toBe(13);
      expect((await store.listBootEvents({})).map((e) => e.at)).toEqual([10, 9, 8]);
      expect((await store.listNodeEvents('n')).map((e) => e.at)).toEqual([10, 9, 8, 7]);
      expect(await store.capHistory({ bootEvents: 3, nodeEvents: 4 })).toBe(0);
      await store.addBootEvent({ kind: 'dhcp-discover', at: 11, outcome: 'answered' });
      expect((await store.listBootEvents({})).map((e) => e.at)).toEqual([11, 10, 9, 8]);
    });

    it('commits one transaction when its function resolves; its calls see their own writes', async () => {
      const [j] = await store.insertJobs([newJob()], 1);
      const out = await store.transaction(async (tx) => {
        const started = await tx.startAttempts([{ jobId: j!.id, node: 'n1' }], 2);
        await tx.setMeta('pump', 'one');
        expect((await tx.getJob(j!.id))!.state).toBe('running');
        // nested transactions join the outer one
        await tx.transaction(async (inner) => inner.recordStaleResult({ attemptId: 1, reason: 'duplicate', at: 3 }));
        return started.length;
      });
      expect(out).toBe(1);
      expect((await store.getJob(j!.id))!.state).toBe('running');
      expect(await store.getMeta('pump')).toBe('one');
      expect(await store.countStaleResults()).toBe(1);
    });

    it.skipIf(opts.rollsBack === false)('rolls a transaction back when its function rejects, writing nothing', async () => {
      const [j] = await store.insertJobs([newJob()], 1);
      await expect(
        store.transaction(async (tx) => {
          await tx.startAttempts([{ jobId: j!.id, node: 'n1' }], 2);
          await tx.setMeta('pump', 'lost');
          throw new Error('commit refused');
        }),
      ).rejects.toThrow('commit refused');
      expect(await store.getJob(j!.id)).toMatchObject({ state: 'queued', attempts: 0 });
      expect(await store.getMeta('pump')).toBeUndefined();
      expect(await store.runningAttempts()).toEqual([]);
      // the store is usable afterwards
      expect(await store.startAttempts([{ jobId: j!.id, node: 'n2' }], 3)).toHaveLength(1);
    });

    it('keeps meta values', async () => {
      expect(await store.getMeta('k')).toBeUndefined();
      await store.setMeta('k', 'v1');
      await store.setMeta('k', 'v2');
      expect(await store.getMeta('k')).toBe('v2');
    });
  });
}
