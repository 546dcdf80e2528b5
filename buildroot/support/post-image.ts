/**
 * Buildroot post-image (board/picluster/common/post-image.sh): assembles <images>/picluster/,
 * laid out like build-image's image/dist, so netboot serves either unchanged:
 *   pi/                      the board's part of image/build/pi-boot-layout.ts (boot-dir.ts)
 *   arm64/runtime.squashfs   fetched by /init over HTTP
 *   manifest.json            image/build/manifest.ts: inputs, outputs (size + sha256), version
 * config.txt and the cmdline.txt template come from image/build/boot-files.ts; the directory
 * is checked with image/build/check.ts before the manifest is written.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkPiBootDir } from '../../image/build/check.ts';
import { encodeCpio } from '../../image/build/cpio.ts';
import { BuildStepError } from '../../image/build/errors.ts';
import { describeOutputs, writeManifest, type ArchManifest } from '../../image/build/manifest.ts';
import type { PiBootFile } from '../../image/build/pi-boot-layout.ts';
import { streamProgress, type Progress } from '../../image/build/progress.ts';
import { loadBoard, type BoardSpec } from './board.ts';
import { boardBootFiles, boardCmdlineTemplate, boardConfigTxt, boardExpectation } from './boot-dir.ts';
import { EXTERNAL_DIR, parseScriptArgs, readState, required, type BuildState } from './state.ts';

/** What Buildroot leaves in BINARIES_DIR for each role (linux, rpi-firmware, the cpio rootfs). */
export const BUILDROOT_IMAGES = {
  kernel: 'Image',
  initramfs: 'rootfs.cpio.lz4',
  firmwareDir: 'rpi-firmware',
} as const;

export const OUTPUT_DIR = 'picluster';

export async function postImage(imagesDir: string, board: BoardSpec, state: BuildState, progress: Progress): Promise<ArchManifest> {
  const out = join(imagesDir, OUTPUT_DIR);
  const produced: string[] = [];
  await progress.step(
    `pi/ for ${board.name}`,
    async () => {
      await rm(out, { recursive: true, force: true });
      await mkdir(join(out, 'pi'), { recursive: true });
      await mkdir(join(out, 'arm64'), { recursive: true });
      for (const f of boardBootFiles(board)) {
        const dest = join(out, 'pi', f.name);
        await produce(f, dest, imagesDir, board, state);
        produced.push(dest);
      }
      const runtime = join(out, 'arm64', 'runtime.squashfs');
      await copyFile(state.runtime, runtime);
      produced.push(runtime);
      const problems = await checkPiBootDir(join(out, 'pi'), boardExpectation(board));
      if (problems.length) throw new BuildStepError('Pi boot directory', problems.map((p) => `${p.file}: ${p.message}`).join('; '));
    },
    () => `${produced.length} files`,
  );
  return progress.step(
    'manifest',
    async () => {
      const m: ArchManifest = {
        arch: 'arm64',
        imageVersion: state.imageVersion,
        sourceDateEpoch: state.sourceDateEpoch,
        kernelVersion: state.kernelVersion,
        agent: state.agent,
        modules: state.modules,
        // no Debian package layer: Buildroot builds its packages into its own rootfs
        packages: { requested: [], layer: null, installed: [] },
        inputs: state.inputs,
        outputs: await describeOutputs(out, produced),
      };
      await writeManifest(out, m);
      return m;
    },
    (m) => `${m.outputs.length} outputs, image ${m.imageVersion}`,
  );
}

async function produce(f: PiBootFile, dest: string, imagesDir: string, board: BoardSpec, state: BuildState): Promise<void> {
  const from = async (...parts: string[]): Promise<void> => {
    const src = join(imagesDir, ...parts);
    if (!existsSync(src)) throw new BuildStepError('Pi boot directory', `${f.name} (${f.role}) needs ${src}, which Buildroot did not produce`);
    await copyFile(src, dest);
  };
  switch (f.role) {
    case 'firmware':
      return from(BUILDROOT_IMAGES.firmwareDir, f.name);
    case 'dtb':
      return from(f.name);
    case 'kernel':
      return from(BUILDROOT_IMAGES.kernel);
    case 'initramfs':
      return from(BUILDROOT_IMAGES.initramfs);
    case 'runtime-initramfs':
      // the same single-stage cpio build-image writes: /runtime.squashfs, for `initramfs runtime8,initramfs8`
      return writeFile(
        dest,
        encodeCpio([{ type: 'file', path: 'runtime.squashfs', mode: 0o644, data: await readFile(state.runtime) }], { mtime: state.sourceDateEpoch }),
      );
    case 'config':
      return writeFile(dest, boardConfigTxt(board, state.imageVersion, state.buildrootVersion));
    case 'cmdline':
      return writeFile(dest, boardCmdlineTemplate(board));
    default: {
      // a role image/build/pi-boot-layout.ts gained: this file needs a source here
      const role: never = f.role;
      throw new BuildStepError('Pi boot directory', `no Buildroot source for role ${String(role)} (${f.name})`);
    }
  }
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseScriptArgs(argv);
  const imagesDir = args.positional[0] ?? required(env, 'BINARIES_DIR');
  const state = await readState(required(env, 'BUILD_DIR'));
  if (state.board !== args.board)
    throw new BuildStepError('picluster state', `state is for board ${state.board}, not ${args.board}: run the post-build script again`);
  const board = await loadBoard(EXTERNAL_DIR, args.board);
  const m = await postImage(imagesDir, board, state, streamProgress(process.stderr, `picluster ${args.board} post-image`, 2));
  const out = join(imagesDir, OUTPUT_DIR);
  process.stdout.write(`${JSON.stringify({ board: board.name, imageVersion: m.imageVersion, out, files: (await readdir(join(out, 'pi'))).length })}\n`);
  return 0;
}
