/**
 * Runs host tools for the build. Maps the ways they fail onto the build's typed errors:
 * a missing binary → ToolMissingError (naming the Debian package), ENOSPC in the output
 * → DiskFullError, anything else → BuildStepError with the tail of stderr.
 */
import { spawn } from 'node:child_process';
import { BuildStepError, DiskFullError, ToolMissingError, mentionsDiskFull } from './errors.ts';

/** Which Debian package provides each host tool (for the "apt-get install" hint). */
const TOOL_PACKAGES: Record<string, string> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  mksquashfs: 'squashfs-tools',
  lz4: 'lz4',
  depmod: 'kmod',
  'aarch64-linux-gnu-strip': 'binutils-aarch64-linux-gnu',
  'aarch64-linux-gnu-g++': 'g++-aarch64-linux-gnu',
  strip: 'binutils',
  tar: 'tar',
  'grub-mkimage': 'grub-common',
  npm: 'npm (Node.js)',
  icupkg: 'icu-devtools',
};

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: Buffer | string;
  /** Name of the build step, for error messages. */
  readonly step: string;
  /** Path written by the tool, named in a DiskFullError. */
  readonly writes?: string;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Runs `cmd args`, resolving with its output whatever its exit code (callers decide). */
export function runRaw(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') reject(new ToolMissingError(cmd, TOOL_PACKAGES[cmd] ?? cmd));
      else reject(new BuildStepError(opts.step, `${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code) => {
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1 });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs `cmd args` and throws a typed error unless it exits 0. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const r = await runRaw(cmd, args, opts);
  if (r.code !== 0) throw failure(cmd, r, opts);
  return r;
}

export function failure(cmd: string, r: RunResult, opts: RunOptions): Error {
  const text = `${r.stderr}\n${r.stdout}`;
  if (mentionsDiskFull(text)) return new DiskFullError(opts.writes ?? opts.cwd ?? cmd);
  const tail = text.trim().split('\n').slice(-6).join(' | ');
  return new BuildStepError(opts.step, `${cmd} exited ${r.code}: ${tail}`);
}
