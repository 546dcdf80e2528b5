/**
 * Buildroot post-build (board/picluster/common/post-build.sh): runs after every package is
 * installed in the target directory, before the rootfs images. With image/build's own code:
 *   1 module selection   the same groups as build-image (inputs.ts), depmod over the target;
 *                        /etc/picluster/modules/<group> lists what /init must insmod
 *   2 runtime squashfs   node (Buildroot's nodejs), the agent bundle and node-pty, built by
 *                        image/build/runtime.ts into <O>/build/picluster-image
 *   3 identity           inputs, image version, /etc/picluster/{image-version,arch,runtime.sha256}
 * It only adds to the target; post-fakeroot drops node & co. from the initramfs copy.
 * Safe to run again (Buildroot re-runs it on every `make`): the runtime's inputs are kept in
 * the state directory, so a target that no longer holds them still builds.
 */
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildStepError } from '../../image/build/errors.ts';
import { sha256, sha256File } from '../../image/build/hash.ts';
import { DEFAULT_SOURCE_DATE_EPOCH, PI_FIRMWARE_FILES, PROFILES } from '../../image/build/inputs.ts';
import type { ManifestInput } from '../../image/build/manifest.ts';
import { selectFromKernelTree } from '../../image/build/modules.ts';
import { formatBytes, streamProgress, type Progress } from '../../image/build/progress.ts';
import { buildRuntime } from '../../image/build/runtime.ts';
import { loadBoard } from './board.ts';
import { firmwareFamily } from './boot-dir.ts';
import { builderSourcesHash, filesHash, imageVersionOf, nodeVersionFromHeaders, packageVersion } from './identity.ts';
import { buildrootVersion, kernelCommit, parseKconfig } from './kconfig.ts';
import { EXTERNAL_DIR, parseScriptArgs, required, stateDir, writeState, type BuildState } from './state.ts';

/** Where Buildroot's packages put what the runtime needs (nodejs, NODEJS_MODULES_ADDITIONAL, picluster-agent). */
export const TARGET_NODE = 'usr/bin/node';
export const TARGET_NODE_PTY = 'usr/lib/node_modules/node-pty';
export const TARGET_AGENT_DIR = 'opt/picluster/agent';

export interface PostBuildOptions {
  readonly targetDir: string;
  readonly board: string;
  readonly configFile: string;
  readonly buildDir: string;
  readonly binariesDir: string;
  readonly stagingDir?: string;
  readonly sourceDateEpoch: number;
  readonly progress: Progress;
}

export async function postBuild(o: PostBuildOptions): Promise<BuildState> {
  const board = await loadBoard(EXTERNAL_DIR, o.board);
  const configText = await readFile(o.configFile, 'utf8');
  const config = parseKconfig(configText);
  const brVersion = buildrootVersion(configText) ?? 'unknown';
  const sd = stateDir(o.buildDir);
  await mkdir(sd, { recursive: true });

  const modules = await o.progress.step(
    'kernel modules (image/build groups)',
    async () => {
      const root = join(o.targetDir, 'lib', 'modules');
      const kvers = existsSync(root) ? await readdir(root) : [];
      if (kvers.length !== 1) throw new BuildStepError('kernel modules', `expected one kernel in ${root}, found ${kvers.length} (is CONFIG_MODULES on?)`);
      const kver = kvers[0] as string;
      const { selection, modulesDep } = await selectFromKernelTree(o.targetDir, kver, PROFILES.arm64.modules);
      const listDir = join(o.targetDir, 'etc', 'picluster', 'modules');
      await rm(listDir, { recursive: true, force: true });
      await mkdir(listDir, { recursive: true });
      for (const [group, list] of Object.entries(selection.groups)) await writeFile(join(listDir, group), list.map((l) => `${l}\n`).join(''));
      return { kver, selection, modulesDep };
    },
    (m) => `${m.kver}: ${m.selection.files.length} to load, ${m.selection.builtin.length} built in, ${m.selection.absent.length} absent`,
  );

  const inputsDir = join(sd, 'inputs');
  const runtime = await o.progress.step(
    'runtime squashfs (node + agent + node-pty)',
    async () => {
      await keepInput(o.targetDir, TARGET_NODE, join(inputsDir, 'node'));
      await keepInput(o.targetDir, TARGET_NODE_PTY, join(inputsDir, 'node-pty'));
      await keepInput(o.targetDir, `${TARGET_AGENT_DIR}/agent.mjs`, join(inputsDir, 'agent.mjs'));
      await keepInput(o.targetDir, `${TARGET_AGENT_DIR}/bundle.json`, join(inputsDir, 'bundle.json'));
      for (const f of ['node', 'agent.mjs', 'bundle.json']) {
        if (!existsSync(join(inputsDir, f)))
          throw new BuildStepError('runtime squashfs', `${f} is in neither the target nor ${inputsDir} (packages nodejs and picluster-agent)`);
      }
      const nodePtyDir = existsSync(join(inputsDir, 'node-pty', 'build', 'Release', 'pty.node')) ? join(inputsDir, 'node-pty') : undefined;
      if (!nodePtyDir) o.progress.note('node-pty is absent (BR2_PACKAGE_NODEJS_MODULES_ADDITIONAL="node-pty@1.1.0"): nodes get no shell');
      const agentCode = await readFile(join(inputsDir, 'agent.mjs'));
      const built = await buildRuntime({ nodeBinary: join(inputsDir, 'node'), agentCode, nodePtyDir }, join(sd, 'work'), sd, o.sourceDateEpoch);
      return { ...built, agentCode, nodePtyDir, sha256: await sha256File(built.path) };
    },
    (r) => (r.cached ? 'cached' : 'built'),
  );

  return o.progress.step(
    'identity (inputs, image version)',
    async () => {
      const bundle = JSON.parse(await readFile(join(inputsDir, 'bundle.json'), 'utf8')) as { entry: string; placeholder: boolean; esbuildVersion: string };
      const ptyVersion = runtime.nodePtyDir
        ? (JSON.parse(await readFile(join(runtime.nodePtyDir, 'package.json'), 'utf8')) as { version: string }).version
        : 'absent';
      const image = join(o.binariesDir, 'Image');
      const firmware = PI_FIRMWARE_FILES.filter((f) => board.families.includes(firmwareFamily(f)));
      const inputs: ManifestInput[] = [
        { kind: 'tool', name: 'buildroot', version: brVersion, hash: '' },
        { kind: 'source', name: 'buildroot-config', version: `picluster_${board.name}`, hash: `sha256:${sha256(configText)}` },
        {
          kind: 'source',
          name: 'linux',
          version: `${modules.kver} raspberrypi/linux@${kernelCommit(config.values.get('BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION')) ?? 'unknown'}`,
          hash: existsSync(image) ? `sha256:${await sha256File(image)}` : '',
        },
        { kind: 'source', name: 'rpi-firmware', version: firmware.join(' ') || 'none', hash: await filesHash(join(o.binariesDir, 'rpi-firmware'), firmware) },
        { kind: 'source', name: 'nodejs', version: await nodeVersionFromHeaders(o.stagingDir), hash: `sha256:${await sha256File(join(inputsDir, 'node'))}` },
        {
          kind: 'source',
          name: 'node-pty',
          version: ptyVersion,
          hash: runtime.nodePtyDir ? `sha256:${await sha256File(join(runtime.nodePtyDir, 'build', 'Release', 'pty.node'))}` : '',
        },
        { kind: 'source', name: 'agent-bundle', version: bundle.entry, hash: `sha256:${sha256(runtime.agentCode)}` },
        { kind: 'source', name: 'image-builder', version: 'image/build + image/rootfs + buildroot', hash: `sha256:${await builderSourcesHash(board.name)}` },
        { kind: 'tool', name: 'esbuild', version: bundle.esbuildVersion, hash: '' },
      ];
      const imageVersion = imageVersionOf(await packageVersion(), inputs, o.sourceDateEpoch, board.name);
      const etc = join(o.targetDir, 'etc', 'picluster');
      await writeFile(join(etc, 'image-version'), `${imageVersion}\n`);
      await writeFile(join(etc, 'arch'), 'arm64\n');
      await writeFile(join(etc, 'runtime.sha256'), `${runtime.sha256}\n`);
      const state: BuildState = {
        board: board.name,
        buildrootVersion: brVersion,
        imageVersion,
        sourceDateEpoch: o.sourceDateEpoch,
        kernelVersion: modules.kver,
        agent: { entry: bundle.entry, placeholder: bundle.placeholder },
        modules: { groups: modules.selection.groups, builtin: modules.selection.builtin, absent: modules.selection.absent },
        inputs,
        moduleFiles: modules.selection.files,
        modulesDep: modules.modulesDep,
        runtime: runtime.path,
        runtimeSha256: runtime.sha256,
      };
      await writeState(o.buildDir, state);
      return state;
    },
    (s) => `image ${s.imageVersion}`,
  );
}

/** Copies target/<rel> into the state directory when the target has it (a re-run may find it gone). */
async function keepInput(targetDir: string, rel: string, dest: string): Promise<void> {
  const src = join(targetDir, rel);
  if (!existsSync(src)) return;
  await rm(dest, { recursive: true, force: true });
  await mkdir(join(dest, '..'), { recursive: true });
  if (rel === TARGET_NODE_PTY) await cp(src, dest, { recursive: true, verbatimSymlinks: true });
  else await copyFile(src, dest);
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseScriptArgs(argv);
  const targetDir = args.positional[0] ?? required(env, 'TARGET_DIR');
  const progress = streamProgress(process.stderr, `picluster ${args.board} post-build`, 3);
  const state = await postBuild({
    targetDir,
    board: args.board,
    configFile: required(env, 'BR2_CONFIG'),
    buildDir: required(env, 'BUILD_DIR'),
    binariesDir: required(env, 'BINARIES_DIR'),
    stagingDir: env.STAGING_DIR,
    sourceDateEpoch: epochOf(env),
    progress,
  });
  progress.note(`runtime ${state.runtime} (${formatBytes((await readFile(state.runtime)).length)})`);
  return 0;
}

/** SOURCE_DATE_EPOCH as Buildroot exports it (BR2_REPRODUCIBLE), else build-image's default. */
export function epochOf(env: NodeJS.ProcessEnv): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return DEFAULT_SOURCE_DATE_EPOCH;
  if (!/^\d+$/.test(raw)) throw new BuildStepError('environment', `SOURCE_DATE_EPOCH=${raw} is not a number of seconds`);
  return Number(raw);
}
