/**
 * A Python map of small tasks end to end, picluster vs Dask distributed, side by side in one run
 * with the same number of worker slots (issue 14's closing note).
 *
 *   npm run bench:python-map -- [--tasks 1000] [--slots 2] [--agents 2] [--cgroups auto|off]
 *
 * Starts `picluster master --local-agents <agents>` on loopback (SQLite in a temp dir), sets the
 * agents' slots so they add up to --slots, then runs bench/python_map.py with Debian's
 * /usr/bin/python3: Cluster.map(inc, range(N)) through the master (each task a python job:
 * submit over REST → assign → a python3 on an agent → result → commit), then the same map through
 * a Dask LocalCluster (scheduler + --slots single-threaded worker processes on loopback).
 * Per-task overhead = wall time × slots / tasks (the task itself is `x + 1`).
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { BIN, freePort, tempDir, waitFor } from '../test/e2e/helpers/cluster-processes.ts';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000' },
    slots: { type: 'string', default: '2' },
    agents: { type: 'string', default: '2' },
    /** `off`: agents run jobs in process groups only (no per-job cgroup), to see what the cgroup costs. */
    cgroups: { type: 'string', default: 'auto' },
  },
});
const tasks = Number(values.tasks);
const slots = Number(values.slots);
const agents = Number(values.agents);
if (!(slots >= agents && agents >= 1)) throw new Error('--slots must be at least --agents (each agent gets slots/agents, the first the remainder)');

const dir = tempDir('picluster-bench-py-');
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const master = spawn(process.execPath, [BIN, 'master', '--local-agents', String(agents)], {
  env: {
    ...process.env,
    PICLUSTER_DATA_DIR: join(dir, 'data'),
    PICLUSTER_HTTP_PORT: String(port),
    PICLUSTER_HTTP_HOST: '127.0.0.1',
    PICLUSTER_INVENTORY: join(dir, 'none.yaml'),
    PICLUSTER_LOG_LEVEL: 'warn',
    PICLUSTER_AGENT_PYTHON: '/usr/bin/python3',
    PICLUSTER_AGENT_CGROUPS: values.cgroups,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
try {
  const token = await waitFor('admin token', () => {
    try {
      return readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
    } catch {
      return undefined;
    }
  });
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.json() as Promise<unknown>;
  };
  const names = Array.from({ length: agents }, (_, i) => `local-${i + 1}`);
  await waitFor(
    'local agents online',
    async () => {
      const nodes = (await api('GET', '/api/nodes')) as { name: string; connected: boolean }[];
      return names.every((n) => nodes.some((x) => x.name === n && x.connected));
    },
    60_000,
  );
  for (const [i, name] of names.entries()) {
    await api('PATCH', `/api/nodes/${name}`, { slots: Math.floor(slots / agents) + (i === 0 ? slots % agents : 0) });
  }
  const script = fileURLToPath(new URL('./python_map.py', import.meta.url));
  const { stdout } = await promisify(execFile)(
    '/usr/bin/python3',
    [script, '--url', url, `--token=${token}`, '--tasks', String(tasks), '--slots', String(slots)],
    {
      timeout: 30 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
    picluster: { wallS: number; tasksPerS: number; perTaskMs: number };
    dask: { wallS: number; tasksPerS: number; perTaskMs: number; clusterStartS: number };
  };
  process.stdout.write(
    [
      `python map of ${tasks} tasks, ${slots} worker slots (${agents} local agents, cgroups ${values.cgroups}), loopback`,
      `  picluster: ${r.picluster.wallS} s  (${r.picluster.tasksPerS} tasks/s, ${r.picluster.perTaskMs} ms per task per slot)`,
      `  dask:      ${r.dask.wallS} s  (${r.dask.tasksPerS} tasks/s, ${r.dask.perTaskMs} ms per task per slot; LocalCluster start ${r.dask.clusterStartS} s)`,
      `  ratio:     picluster takes ${(r.picluster.wallS / r.dask.wallS).toFixed(1)}× Dask's time`,
      JSON.stringify(r),
      '',
    ].join('\n'),
  );
} finally {
  const exited = new Promise((res) => master.once('exit', res));
  master.kill('SIGTERM');
  await exited;
  rmSync(dir, { recursive: true, force: true });
}
