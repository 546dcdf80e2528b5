/**
 * What post-build hands to post-fakeroot and post-image: a JSON file in Buildroot's build
 * directory (<O>/build/picluster-image/state.json), next to the runtime squashfs and the
 * copies of its inputs. Also the command-line and environment parsing shared by the three
 * script entry points (Buildroot passes paths in the environment, and
 * BR2_ROOTFS_POST_SCRIPT_ARGS after the first argument).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildStepError } from '../../image/build/errors.ts';
import type { ArchManifest, ManifestInput } from '../../image/build/manifest.ts';

/** This BR2_EXTERNAL tree (buildroot/) and the repository around it. */
export const EXTERNAL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(EXTERNAL_DIR, '..');

export interface BuildState {
  readonly board: string;
  readonly buildrootVersion: string;
  readonly imageVersion: string;
  readonly sourceDateEpoch: number;
  readonly kernelVersion: string;
  readonly agent: ArchManifest['agent'];
  readonly modules: ArchManifest['modules'];
  readonly inputs: readonly ManifestInput[];
  /** Kernel-relative module paths the initramfs keeps; every other module file is dropped. */
  readonly moduleFiles: readonly string[];
  /** modules.dep restricted to moduleFiles. */
  readonly modulesDep: string;
  /** The runtime squashfs (node + agent + node-pty). */
  readonly runtime: string;
  readonly runtimeSha256: string;
}

export function stateDir(buildDir: string): string {
  return join(buildDir, 'picluster-image');
}

export async function writeState(buildDir: string, s: BuildState): Promise<void> {
  await writeFile(join(stateDir(buildDir), 'state.json'), JSON.stringify(s, null, 2) + '\n');
}

export async function readState(buildDir: string): Promise<BuildState> {
  const path = join(stateDir(buildDir), 'state.json');
  const text = await readFile(path, 'utf8').catch((e: unknown) => {
    throw new BuildStepError('picluster state', `${path} is missing: the post-build script has not run`, { cause: e });
  });
  return JSON.parse(text) as BuildState;
}

export interface ScriptArgs {
  readonly positional: readonly string[];
  readonly board: string;
}

/** `<dir> [--board <name>] …`: Buildroot's first argument, then BR2_ROOTFS_POST_SCRIPT_ARGS. */
export function parseScriptArgs(argv: readonly string[]): ScriptArgs {
  const positional: string[] = [];
  let board: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--board') board = argv[++i];
    else if (a.startsWith('--board=')) board = a.slice('--board='.length);
    else if (a.startsWith('--')) throw new BuildStepError('arguments', `unknown option ${a}`);
    else positional.push(a);
  }
  if (!board) throw new BuildStepError('arguments', 'no --board <name> (set BR2_ROOTFS_POST_SCRIPT_ARGS="--board rpi4")');
  return { positional, board };
}

/** A variable Buildroot exports to post scripts; missing means the script runs outside Buildroot. */
export function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new BuildStepError('environment', `${name} is not set (run from Buildroot, or set it by hand)`);
  return v;
}
