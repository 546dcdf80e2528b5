/**
 * The agent as a real process (`node --import tsx node-agent/main.ts`, the same file esbuild
 * bundles): options from flags and env, hello, a function job, SIGTERM → exit 0 with the watchdog
 * magic close; missing options → exit 2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FakeDispatcher } from './fake-dispatcher.test-helper.ts';

const mainPath = join(import.meta.dirname, 'main.ts');
let dir: string;
let server: FakeDispatcher;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'picluster-agent-main-'));
  server = await FakeDispatcher.start();
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function startAgent(argv: string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', mainPath, ...argv], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

it('runs as the main module: hello, a function job, clean exit on SIGTERM', async () => {
  const watchdog = join(dir, 'watchdog');
  writeFileSync(watchdog, '');
  const work = join(dir, 'work');
  const { child, output } = startAgent(['--name', 'proc-agent', '--work-dir', work, '--watchdog', watchdog, '--log-level', 'warn'], {
    PICLUSTER_AGENT_DISPATCHER: server.url,
    PICLUSTER_AGENT_TOKEN: 'tok',
    PICLUSTER_IMAGE_VERSION: 'img-1',
  });
  const hello = await server.frame('hello', () => true, 20_000);
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
  expect(hello).toMatchObject({
    token: 'tok',
    node: { name: 'proc-agent', agentVersion: pkg.version, imageVersion: 'img-1', platform: process.platform },
    running: [],
  });
  await server.frame('pull');
  server.send(0, {
    type: 'assign',
    attemptId: 1,
    jobId: 1,
    spec: { kind: 'function', source: 'export default (n) => ({ squared: n * n, node: process.env.PICLUSTER_NODE })', args: [12] },
    outputLimitBytes: 1024,
  });
  expect((await server.frame('result')).result).toMatchObject({ outcome: 'succeeded', value: { squared: 144, node: 'proc-agent' } });
  expect(await readdir(work)).toEqual([]);
  const exited = once(child, 'exit', { signal: AbortSignal.timeout(10_000) });
  child.kill('SIGTERM');
  const [code] = await exited;
  expect(code, output()).toBe(0);
  expect(readFileSync(watchdog, 'utf8')).toMatch(/^\.+V$/);
});

it('exits 2 with a clear message when required options are missing', async () => {
  const { child, output } = startAgent([]);
  const [code] = await once(child, 'exit', { signal: AbortSignal.timeout(20_000) });
  expect(code).toBe(2);
  expect(output()).toMatch(/no dispatcher URL/);
  expect(output()).toMatch(/no node token/);
});

it('runs function jobs with PICLUSTER_AGENT_JOB_NODE and PICLUSTER_AGENT_ON_IDLE once the last job has ended (the image’s ICU hooks)', async () => {
  const jobNode = join(dir, 'job-node');
  const marker = join(dir, 'job-node-ran');
  const idle = join(dir, 'idle');
  writeFileSync(jobNode, `#!/bin/sh\necho "$#" > '${marker}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
  startAgent(['--name', 'hook-agent', '--log-level', 'warn'], {
    PICLUSTER_AGENT_DISPATCHER: server.url,
    PICLUSTER_AGENT_TOKEN: 'tok',
    PICLUSTER_AGENT_JOB_NODE: jobNode,
    PICLUSTER_AGENT_ON_IDLE: `echo idle >> '${idle}'`,
  });
  await server.frame('hello', () => true, 20_000);
  await server.frame('pull');
  expect(existsSync(idle)).toBe(false);
  server.send(0, { type: 'assign', attemptId: 1, jobId: 1, spec: { kind: 'function', source: 'export default () => 7', args: [] }, outputLimitBytes: 1024 });
  expect((await server.frame('result')).result).toMatchObject({ outcome: 'succeeded', value: 7 });
  expect(readFileSync(marker, 'utf8')).not.toBe('');
  // the hook's shell creates the file before it writes to it: wait for the content, not the file
  await expect.poll(() => (existsSync(idle) ? readFileSync(idle, 'utf8') : ''), { timeout: 20_000 }).toBe('idle\n');
});
