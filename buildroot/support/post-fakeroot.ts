/**
 * Buildroot post-fakeroot (board/picluster/common/post-fakeroot.sh): runs on the copy of the
 * target that becomes the cpio initramfs, just before it is archived. Makes that copy the
 * first stage build-image makes: node, node-pty and the agent leave (they are in the runtime
 * squashfs, mounted on /opt/picluster by /init), and only the selected kernel modules stay,
 * with a modules.dep listing only them. The Pi 3 firmware fetches at most 32 MiB over TFTP,
 * so the initramfs must stay small; the Raspberry Pi kernel installs hundreds of modules.
 */
import { existsSync } from 'node:fs';
import { readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { BuildStepError } from '../../image/build/errors.ts';
import { streamProgress, type Progress } from '../../image/build/progress.ts';
import { TARGET_AGENT_DIR, TARGET_NODE, TARGET_NODE_PTY } from './post-build.ts';
import { parseScriptArgs, readState, required, type BuildState } from './state.ts';

/** Kernel-module index files /init does not use (it insmods by path from modules.dep). */
const MODULE_INDEXES = /^modules\.(alias|alias\.bin|builtin\.alias\.bin|builtin\.bin|builtin\.modinfo|dep\.bin|devname|softdep|symbols|symbols\.bin|weakdep)$/;

export async function postFakeroot(rootfsDir: string, state: BuildState, progress: Progress): Promise<{ removed: number }> {
  return progress.step(
    'initramfs: drop the runtime and unselected modules',
    async () => {
      let removed = 0;
      for (const rel of [TARGET_NODE, TARGET_NODE_PTY]) {
        if (existsSync(join(rootfsDir, rel))) {
          await rm(join(rootfsDir, rel), { recursive: true, force: true });
          removed++;
        }
      }
      await rmdirIfEmpty(join(rootfsDir, 'usr', 'lib', 'node_modules'));
      // /opt/picluster is the runtime's mount point: it stays, empty
      const agentDir = join(rootfsDir, TARGET_AGENT_DIR);
      if (existsSync(agentDir)) {
        await rm(agentDir, { recursive: true, force: true });
        removed++;
      }
      const modDir = join(rootfsDir, 'lib', 'modules', state.kernelVersion);
      if (existsSync(modDir)) {
        const keep = new Set(state.moduleFiles);
        for (const f of await walk(join(modDir, 'kernel'))) {
          if (!keep.has(relative(modDir, f))) {
            await rm(f, { force: true });
            removed++;
          }
        }
        await pruneEmptyDirs(join(modDir, 'kernel'));
        for (const f of await readdir(modDir)) if (MODULE_INDEXES.test(f)) await rm(join(modDir, f), { force: true });
        await writeFile(join(modDir, 'modules.dep'), state.modulesDep);
      }
      return { removed };
    },
    (r) => `${r.removed} removed`,
  );
}

async function walk(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

async function pruneEmptyDirs(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await pruneEmptyDirs(join(dir, e.name));
  await rmdirIfEmpty(dir);
}

async function rmdirIfEmpty(dir: string): Promise<void> {
  if (existsSync(dir) && (await readdir(dir)).length === 0) await rmdir(dir);
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseScriptArgs(argv);
  const rootfsDir = args.positional[0] ?? required(env, 'TARGET_DIR');
  const state = await readState(required(env, 'BUILD_DIR'));
  if (state.board !== args.board)
    throw new BuildStepError('picluster state', `state is for board ${state.board}, not ${args.board}: run the post-build script again`);
  await postFakeroot(rootfsDir, state, streamProgress(process.stderr, `picluster ${args.board} post-fakeroot`, 1));
  return 0;
}
