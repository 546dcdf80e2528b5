import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { findJobProcesses, isAlive, reapOrphanJobs } from './process-tree.ts';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.pid && isAlive(c.pid)) c.kill('SIGKILL');
});

function sleeper(env: Record<string, string>): number {
  const c = spawn('sleep', ['300'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: 'ignore' });
  started.push(c);
  return c.pid!;
}

// /proc is Linux-only; elsewhere findJobProcesses returns [] by design.
it.skipIf(process.platform !== 'linux')('reaps job processes a dead agent of this node left behind, and only those', async () => {
  const node = `reap-${randomUUID()}`;
  const deadAgent = spawn('true');
  await new Promise((r) => deadAgent.once('exit', r));
  const orphan = sleeper({ PICLUSTER_NODE: node, PICLUSTER_ATTEMPT_ID: '7', PICLUSTER_JOB_ID: '3', PICLUSTER_AGENT_PID: String(deadAgent.pid) });
  const oldAgentJob = sleeper({ PICLUSTER_NODE: node, PICLUSTER_ATTEMPT_ID: '6' }); // from an agent before PICLUSTER_AGENT_PID
  const liveAgent = sleeper({});
  const liveAgentJob = sleeper({ PICLUSTER_NODE: node, PICLUSTER_ATTEMPT_ID: '9', PICLUSTER_AGENT_PID: String(liveAgent) });
  const otherNode = sleeper({ PICLUSTER_NODE: `${node}-other`, PICLUSTER_ATTEMPT_ID: '8' });
  const notAJob = sleeper({ PICLUSTER_NODE: node });
  await expect.poll(() => findJobProcesses(node), { timeout: 5000, interval: 20 }).toEqual([orphan, oldAgentJob].sort((a, b) => a - b));
  expect(reapOrphanJobs(node).sort((a, b) => a - b)).toEqual([orphan, oldAgentJob].sort((a, b) => a - b));
  await expect.poll(() => isAlive(orphan), { timeout: 5000, interval: 20 }).toBe(false);
  await expect.poll(() => isAlive(oldAgentJob), { timeout: 5000, interval: 20 }).toBe(false);
  expect(isAlive(liveAgentJob)).toBe(true);
  expect(isAlive(otherNode)).toBe(true);
  expect(isAlive(notAJob)).toBe(true);
});
