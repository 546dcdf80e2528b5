/**
 * The agent's entry: `picluster agent …` calls `run(argv)`; the netboot image runs this file
 * bundled by esbuild (ESM output, so `import.meta.url` survives) as its main module. Keep its
 * imports lean: no tsx, no fastify, no config loader — only what a node needs.
 */
import { collectBootReport, type BootReport } from './boot-report.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isPiclusterError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { Agent } from './agent.ts';
import { JobCgroups, type IsolationInfo } from './cgroup.ts';
import { HealthCollector } from './health.ts';
import { IdleHook } from './idle-hook.ts';
import { collectIdentity } from './identity.ts';
import { resolveAgentOptions, USAGE } from './options.ts';
import { reapOrphanJobs } from './process-tree.ts';
import { ArtifactUploader } from './artifacts.ts';
import { apiBaseUrl, FileCache } from './file-cache.ts';
import { Runner } from './runner.ts';
import { detectRuntimes, runtimesWithin } from './runtimes.ts';
import { systemFiles } from './sources.ts';
import { AGENT_VERSION } from './version.ts';
import { agentFetch, wsTlsOptions } from './tls-options.ts';

/** Runs the agent until SIGINT/SIGTERM; resolves with the exit code (2 = bad options). */
export async function run(argv: string[]): Promise<number | undefined> {
  const [kernelCmdline, imageVersionFile] = await Promise.all([systemFiles.readFile('/proc/cmdline'), systemFiles.readFile('/etc/picluster/image-version')]);
  let opts;
  try {
    opts = resolveAgentOptions({ argv, env: process.env, kernelCmdline, imageVersionFile, hostname: hostname() });
  } catch (e) {
    if (!isPiclusterError(e)) throw e;
    process.stderr.write(`picluster agent: ${e.message.split('\n').join('\npicluster agent: ')}\n\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  const log = createLogger({ level: opts.logLevel }).child({ component: 'agent', node: opts.name });
  let workDir = opts.workDir;
  let ownWorkDir = false;
  if (workDir === undefined) {
    workDir = mkdtempSync(join(tmpdir(), 'picluster-agent-'));
    ownWorkDir = true;
  } else {
    await mkdir(workDir, { recursive: true });
  }

  const orphans = reapOrphanJobs(opts.name);
  if (orphans.length > 0) log.warn({ pids: orphans }, 'killed job processes left behind by a previous agent for this node');

  let cgroups: JobCgroups | undefined;
  let isolation: IsolationInfo = { kind: 'process-group', note: 'cgroups off (--cgroups off)' };
  if (opts.cgroups === 'auto') {
    const made = await JobCgroups.create({ nodeName: opts.name, log });
    if (made instanceof JobCgroups) {
      cgroups = made;
      const stale = await made.reapStale();
      if (stale.length > 0) log.warn({ cgroups: stale }, 'removed job cgroups left behind by agents that died');
    }
    isolation = made.info;
  }
  log.info({ isolation }, 'job isolation');
  // The image's hooks (image/rootfs/agent-loop): function jobs run PICLUSTER_AGENT_JOB_NODE (its node
  // that fetches the full ICU data first) and PICLUSTER_AGENT_ON_IDLE runs once no job has run for
  // PICLUSTER_AGENT_IDLE_AFTER_MS (drops that data again; node-agent/idle-hook.ts), at once when the
  // agent stops with one pending. image/build/icu-data.ts.
  const jobNode = process.env.PICLUSTER_AGENT_JOB_NODE || undefined;
  const onIdle = process.env.PICLUSTER_AGENT_ON_IDLE || undefined;
  const idleAfterMs = idleAfter(process.env.PICLUSTER_AGENT_IDLE_AFTER_MS, log);
  const runner = new Runner({
    ...(jobNode ? { nodePath: jobNode } : {}),
    workDir,
    nodeName: opts.name,
    log: log.child({ component: 'runner' }),
    ...(opts.python ? { pythonPath: opts.python } : {}),
    ...(cgroups ? { cgroups } : {}),
    inputs: new FileCache({
      dir: join(workDir, '.file-cache'),
      capBytes: opts.fileCacheBytes,
      dispatcherUrl: opts.dispatcher,
      nodeName: opts.name,
      token: opts.token,
      log: log.child({ component: 'files' }),
      fetch: agentFetch(opts.tls),
    }),
    artifacts: new ArtifactUploader({
      apiBase: apiBaseUrl(opts.dispatcher),
      nodeName: opts.name,
      token: opts.token,
      log: log.child({ component: 'artifacts' }),
      fetch: agentFetch(opts.tls),
    }),
  });
  // started now, awaited only by the hello, and by it for at most 2 s (see runtimesWithin)
  const runtimes = detectRuntimes(runner.python());

  const health = new HealthCollector({ files: systemFiles });
  const agent = new Agent({
    url: opts.dispatcher,
    wsOptions: wsTlsOptions(opts.tls),
    token: opts.token,
    log,
    identity: async () => ({
      ...(await collectIdentity({
        name: opts.name,
        imageVersion: opts.imageVersion,
        files: systemFiles,
        bootId: process.env.PICLUSTER_AGENT_BOOT_ID,
        mac: process.env.PICLUSTER_AGENT_MAC,
      })),
      isolation: { ...isolation, ...(isolation.note ? { note: isolation.note.slice(0, 512) } : {}) },
      runtimes: await runtimesWithin(runtimes, 2000),
    }),
    health: () => health.collect(),
    runner,
    slotsCap: opts.slots,
    rebootCommand: opts.rebootCommand,
    shutdownCommand: opts.shutdownCommand,
    watchdog: opts.watchdog ? { path: opts.watchdog } : undefined,
    bootReport: opts.kmsg ? (bootId, now) => bootReportOrWarn(opts.kmsg as string, bootId, now) : undefined,
  });
  const idleHook = onIdle ? new IdleHook(() => runIdleCommand(onIdle, log), idleAfterMs) : undefined;
  if (idleHook) {
    agent.on('job-started', (e) => idleHook.started(e.attemptId));
    agent.on('job-finished', (e) => idleHook.finished(e.result.attemptId));
  }
  log.info(
    { version: AGENT_VERSION, dispatcher: opts.dispatcher, sources: opts.sources, slotsCap: opts.slots ?? null, workDir, watchdog: opts.watchdog ?? null },
    'agent starting',
  );
  function bootReportOrWarn(path: string, bootId: string, now: number): BootReport | undefined {
    const r = collectBootReport(path, bootId, now);
    if (r.error) log.warn({ path, err: r.error }, 'no boot report: cannot read the kernel log');
    return r.report;
  }
  try {
    agent.start();
  } catch (e) {
    log.error({ err: e }, 'agent failed to start');
    if (ownWorkDir) rmSync(workDir, { recursive: true, force: true });
    return 1;
  }

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, 'agent stopping');
  await agent.stop();
  // the jobs were killed: a release still waiting for its time runs now, not never
  idleHook?.flush();
  await cgroups?.close();
  if (ownWorkDir) rmSync(workDir, { recursive: true, force: true });
  log.info('agent stopped');
  return 0;
}

function isMainModule(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isMainModule()) {
  run(process.argv.slice(2)).then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`picluster agent: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

/** PICLUSTER_AGENT_IDLE_AFTER_MS: a whole number of ms (default 0: at once), at most a timer's 2^31 − 1. */
function idleAfter(raw: string | undefined, log: ReturnType<typeof createLogger>): number {
  if (raw === undefined || raw === '') return 0;
  if (/^\d{1,10}$/.test(raw)) return Math.min(Number(raw), 2 ** 31 - 1);
  log.warn({ PICLUSTER_AGENT_IDLE_AFTER_MS: raw }, 'not a whole number of milliseconds; the on-idle command runs at once');
  return 0;
}

/** Runs the on-idle command (sh -c) in the background; its failure is logged, never thrown. Its output goes where the agent's does (the console on a netbooted node). */
function runIdleCommand(command: string, log: ReturnType<typeof createLogger>): void {
  let child;
  try {
    // (called from a timer: a synchronous spawn failure must not end the agent)
    child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    log.warn({ command, err: (err as Error).message }, 'on-idle command did not start');
    return;
  }
  child.on('error', (err) => log.warn({ command, err: err.message }, 'on-idle command did not start'));
  child.on('exit', (code) => code !== 0 && log.warn({ command, code }, 'on-idle command failed'));
  child.unref();
}
