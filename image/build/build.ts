/**
 * `buildImage`: one architecture's RAM-only boot artefacts, step by step.
 *
 *   1 Debian packages   private apt state → kernel, busybox-static, glibc, (raspi-firmware)
 *   2 Node.js           npm pack node-linux-<arch> (pinned integrity), stripped
 *   3 node-pty          cross-built with node-gyp against that Node's headers
 *   4 agent bundle      esbuild → one agent.mjs
 *   5 kernel modules    depmod -b, dependency closure of the wanted groups
 *   6 package layer     squashfs (xz): image.packages / --package + dependencies (layer.ts)
 *   7 runtime           squashfs (xz): node + agent + node-pty
 *   8 initramfs         pure cpio newc + lz4: busybox, /init, glibc, modules, identity
 *   9 boot files        pi/ (firmware, DTBs, config.txt, cmdline.txt, gzip'd kernel, initramfs, and the
 *                       PXE loaders: iPXE for x86, GRUB for arm64 UEFI, grub.cfg template) or amd64/
 *  10 manifest          inputs (version + hash), outputs (size + sha256), the layer's packages
 *
 * Layout of outDir (image/dist by default):
 *   pi/                 the TFTP root (netboot.tftpRoot): Pi files + PXE loaders; every file <= 32 MiB
 *   arm64/runtime.squashfs   fetched by /init over HTTP: http://<master>/boot/arm64/runtime.squashfs
 *   arm64/packages.squashfs  the package layer, fetched beside it (absent with an empty package list)
 *   arm64/icu.squashfs       the full ICU data, fetched beside it by the first Node job (icu-data.ts)
 *   amd64/              vmlinuz, initramfs.img, runtime.squashfs, packages.squashfs, boot.ipxe
 *   manifest.json
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bundleAgent, defaultAgentEntry, REPO_ROOT } from './agent-bundle.ts';
import { extractDeb, PrivateApt, type DownloadedDeb } from './apt.ts';
import { amd64IpxeTemplate, PI_INITRAMFS, PI_KERNEL, PI_RUNTIME_INITRAMFS, piCmdlineTemplate, piConfigTxt } from './boot-files.ts';
import { checkPiBootDir } from './check.ts';
import { piBootLayout } from './pi-boot-layout.ts';
import { layPxeLoaders, pxeBootLayout } from './pxe-loaders.ts';
import { encodeCpio } from './cpio.ts';
import { collectLibs, hashBuilderSources } from './collect.ts';
import { BuildStepError, DiskFullError, isDiskFull, PackageMissingError } from './errors.ts';
import { sha256, sha256File } from './hash.ts';
import { buildInitramfsCpio, compressLz4Legacy, readRootfs } from './initramfs.ts';
import { PI_DTBS, PI_FIRMWARE_FILES, PROFILES, type Arch } from './inputs.ts';
import { LAYER_FILE, preparePackageLayer } from './layer.ts';
import { DEFAULT_IMAGE_PACKAGES } from './packages.ts';
import { describeOutputs, readManifest, writeManifest, type ArchManifest, type ManifestInput } from './manifest.ts';
import { withBuildLock } from './lock.ts';
import { selectFromKernelTree } from './modules.ts';
import { prepareNode, prepareNodePty } from './node-runtime.ts';
import { formatBytes, silentProgress, type Progress } from './progress.ts';
import { buildIcuLayer, buildRuntime, ICU_FILE, runtimeCompression } from './runtime.ts';

export const IMAGE_DIR = join(REPO_ROOT, 'image');
export const DEFAULT_OUT_DIR = join(IMAGE_DIR, 'dist');
export const DEFAULT_CACHE_DIR = join(IMAGE_DIR, '.cache');
export const ROOTFS_DIR = join(IMAGE_DIR, 'rootfs');
export const BUILD_STEPS = 10;

export interface BuildOptions {
  readonly arch: Arch;
  readonly outDir?: string;
  readonly cacheDir?: string;
  readonly sourceDateEpoch: number;
  /** Agent entry file; default node-agent/main.ts, or the placeholder while it is missing. */
  readonly agentEntry?: string;
  readonly progress?: Progress;
  /** Re-run apt-get update when the lists are older than this (default 12 h). */
  readonly aptListsMaxAgeMs?: number;
  /** Return the existing build (checked under the lock) when outDir already has every output of one for this arch. */
  readonly reuseExisting?: boolean;
  /** Build the runtime squashfs and the package layer even when the cache has them (reproducibility checks). */
  readonly rebuildRuntime?: boolean;
  /** Debian packages for the layer (with their dependencies); default DEFAULT_IMAGE_PACKAGES, [] = no layer. */
  readonly packages?: readonly string[];
}

export interface BuildResult {
  readonly manifest: ArchManifest;
  readonly outDir: string;
}

const DEB_REGISTRY = 'Debian archive';

export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  try {
    return await withBuildLock(
      opts.cacheDir ?? DEFAULT_CACHE_DIR,
      async () => {
        const outDir = opts.outDir ?? DEFAULT_OUT_DIR;
        const existing = opts.reuseExisting ? await currentBuild(outDir, opts.arch, opts.packages) : undefined;
        return existing ? { manifest: existing, outDir } : buildImageUnwrapped(opts);
      },
      {
        onWait: (pid) => (opts.progress ?? silentProgress()).note(`waiting for another build (pid ${pid}) to finish`),
      },
    );
  } catch (e) {
    if (isDiskFull(e)) throw new DiskFullError((e as { path?: string }).path ?? opts.outDir ?? DEFAULT_OUT_DIR, { cause: e });
    throw e;
  }
}

async function buildImageUnwrapped(opts: BuildOptions): Promise<BuildResult> {
  const profile = PROFILES[opts.arch];
  const outDir = opts.outDir ?? DEFAULT_OUT_DIR;
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const progress = opts.progress ?? silentProgress();
  const epoch = opts.sourceDateEpoch;
  const workDir = join(cacheDir, 'work', profile.arch);
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });

  // 1 ─ Debian packages
  const apt = new PrivateApt(cacheDir, profile.debArch);
  const debs = await progress.step(
    'Debian packages (private apt state)',
    async () => {
      const lists = await apt.update(opts.aptListsMaxAgeMs ?? 12 * 3600_000);
      progress.note(`package lists: ${lists}`);
      const kernelPkg = await apt.resolveMeta(profile.kernelMeta, profile.kernelPrefix);
      const infos = await apt.show([kernelPkg, ...profile.debs]);
      const got = await apt.download([...infos.values()], join(cacheDir, 'debs', profile.debArch));
      for (const d of got) progress.note(`${d.package} ${d.version}${d.cached ? ' (cached)' : ''}`);
      return { kernelPkg, list: got };
    },
    (r) => `${r.list.length} debs, ${formatBytes(r.list.reduce((n, d) => n + d.size, 0))}`,
  );
  const deb = (name: string): DownloadedDeb => {
    const d = debs.list.find((x) => x.package === name);
    if (!d) throw new PackageMissingError(DEB_REGISTRY, name);
    return d;
  };

  // 2 ─ Node.js
  const node = await progress.step(
    `Node.js ${profile.node.version} (${profile.node.name})`,
    () => prepareNode(profile, cacheDir),
    (n) =>
      `${n.cached ? 'cached' : 'downloaded, stripped'}; ICU ${n.icu.packageName}: ${n.icu.embeddedItems} items (${formatBytes(n.icu.embeddedBytes)}) embedded, all (${formatBytes(n.icu.fullBytes)}) in ${ICU_FILE}`,
  );

  // 3 ─ node-pty
  const pty = await progress.step(
    'node-pty (cross-built)',
    () => prepareNodePty(profile, node, cacheDir),
    (p) => (p.cached ? 'cached' : 'built'),
  );

  // 4 ─ agent bundle
  const agentEntry = opts.agentEntry ?? defaultAgentEntry().entry;
  const agent = await progress.step(
    'agent bundle (esbuild)',
    () => bundleAgent(agentEntry, `node${profile.node.version.split('.')[0]}`),
    (a) => `${a.entry}${a.placeholder ? ' — PLACEHOLDER agent' : ''}, ${formatBytes(a.code.length)}`,
  );

  // 5 ─ kernel + modules (the unpacked kernel tree is cached per package version)
  const kernel = await progress.step(
    'kernel and modules',
    async () => {
      const k = deb(debs.kernelPkg);
      const tree = join(cacheDir, 'kernel', `${k.package}_${k.version}`);
      if (!existsSync(join(tree, '.complete'))) {
        await rm(tree, { recursive: true, force: true });
        await extractDeb(k.path, tree);
        await writeFile(join(tree, '.complete'), `${k.sha256}\n`);
      }
      const kvers = await readdir(join(tree, 'lib', 'modules'));
      const kver = kvers.find((v) => existsSync(join(tree, 'lib', 'modules', v, 'kernel')));
      if (!kver) throw new BuildStepError('kernel and modules', `no modules directory in ${k.package}`);
      const { selection, modulesDep } = await selectFromKernelTree(tree, kver, profile.modules);
      if (selection.absent.length) progress.note(`not in this kernel (skipped): ${selection.absent.join(', ')}`);
      const modules = new Map<string, Uint8Array>();
      for (const f of selection.files) modules.set(f, await readFile(join(tree, 'lib', 'modules', kver, f)));
      return { tree, kver, selection, modulesDep, modules };
    },
    (k) => `${k.kver}, ${k.modules.size} modules`,
  );

  // small packages: busybox, glibc, firmware
  const unpacked = async (name: string): Promise<string> => {
    const dir = join(workDir, 'debs', name);
    if (!existsSync(dir)) await extractDeb(deb(name).path, dir);
    return dir;
  };

  // 6 ─ package layer (its debs are inputs of the image version: the initramfs carries its sha256)
  const requested = opts.packages ?? DEFAULT_IMAGE_PACKAGES;
  const layer = await progress.step(
    `package layer (${requested.length ? requested.join(', ') : 'none'})`,
    async () => {
      const l = await preparePackageLayer({
        apt,
        requested,
        debDir: join(cacheDir, 'debs', profile.debArch),
        workDir,
        cacheDir,
        sourceDateEpoch: epoch,
        useCache: !opts.rebuildRuntime,
      });
      for (const d of l?.debs ?? []) progress.note(`${d.package} ${d.version}${d.cached ? ' (cached)' : ''}`);
      if (l)
        progress.note(
          `layer ${formatBytes(l.sizeBytes)} (xz; ${formatBytes(l.unpackedBytes)} unpacked); node idle RAM cost ${formatBytes(l.idleRamBytes)} (held in /run)`,
        );
      return l;
    },
    (l) => (l ? `${l.debs.length} packages, ${formatBytes(l.sizeBytes)}${l.cached ? ', cached' : ''}` : 'no packages'),
  );

  // identity: the version hashes every input and the builder itself
  const rootfs = await readRootfs(ROOTFS_DIR);
  const builderHash = await hashBuilderSources(rootfs);
  const inputs: ManifestInput[] = [
    ...[...debs.list, ...(layer?.debs ?? [])].map((d) => ({ kind: 'deb' as const, name: d.package, version: d.version, hash: `sha256:${d.sha256}` })),
    { kind: 'npm', name: node.tarball.name, version: node.tarball.version, hash: node.tarball.integrity },
    { kind: 'npm', name: pty.tarball.name, version: pty.tarball.version, hash: pty.tarball.integrity },
    { kind: 'source', name: 'agent-bundle', version: agent.entry, hash: `sha256:${sha256(agent.code)}` },
    { kind: 'source', name: 'image-builder', version: 'image/build + image/rootfs', hash: `sha256:${builderHash}` },
    { kind: 'tool', name: 'esbuild', version: agent.esbuildVersion, hash: '' },
  ];
  const pkgVersion = (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const imageVersion = `${pkgVersion}+${sha256(inputs.map((i) => `${i.kind} ${i.name} ${i.version} ${i.hash}`).join('\n') + `\nepoch ${epoch}\narch ${profile.arch}`).slice(0, 12)}`;
  progress.note(`image version ${imageVersion}`);

  // 7 ─ runtime squashfs
  const runtime = await progress.step(
    'runtime squashfs (node + agent + node-pty)',
    () =>
      buildRuntime(
        { nodeBinary: node.binary, agentCode: agent.code, nodePtyDir: pty.packageDir, compression: runtimeCompression(profile.arch) },
        workDir,
        cacheDir,
        epoch,
        !opts.rebuildRuntime,
      ),
    (r) => (r.cached ? 'cached' : 'built'),
  );
  const runtimeSha256 = await sha256File(runtime.path);
  // the full ICU data taken out of node, fetched by the first Node job (icu-data.ts)
  const icuLayer = await buildIcuLayer(node.icu.dir, `${node.icu.packageName}.dat`, workDir, cacheDir, epoch, !opts.rebuildRuntime);
  const icuSha256 = await sha256File(icuLayer.path);

  // 8 ─ initramfs
  const initramfsPath = join(workDir, 'initramfs.cpio.lz4');
  await progress.step(
    'initramfs (cpio newc + lz4)',
    async () => {
      const busybox = await readFile(join(await unpacked('busybox-static'), 'bin', 'busybox'));
      const libs = await collectLibs(profile, [await unpacked('libc6'), await unpacked('libgcc-s1'), await unpacked('libstdc++6')]);
      const cpio = buildInitramfsCpio(
        {
          arch: profile.arch,
          triplet: profile.triplet,
          interpreter: profile.interpreter,
          imageVersion,
          runtimeSha256,
          ...(layer ? { packagesSha256: layer.sha256 } : {}),
          icuSha256,
          busybox,
          libs,
          rootfs,
          kernelVersion: kernel.kver,
          modules: kernel.modules,
          modulesDep: kernel.modulesDep,
          moduleGroups: kernel.selection.groups,
        },
        epoch,
      );
      const raw = join(workDir, 'initramfs.cpio');
      await writeFile(raw, cpio);
      await compressLz4Legacy(raw, initramfsPath);
      return cpio.length;
    },
    (n) => `${formatBytes(n)} uncompressed`,
  );

  // 9 ─ boot files
  const staging = join(outDir, `.staging-${profile.arch}`);
  await rm(staging, { recursive: true, force: true });
  const produced: string[] = [];
  await progress.step(
    profile.piFirmware ? 'Pi boot directory' : 'amd64 boot files',
    async () => {
      const kernelImage = join(kernel.tree, 'boot', `vmlinuz-${kernel.kver}`);
      if (profile.piFirmware) {
        const pi = join(staging, 'pi');
        await mkdir(pi, { recursive: true });
        const fw = join(await unpacked('raspi-firmware'), 'usr', 'lib', 'raspi-firmware');
        for (const f of PI_FIRMWARE_FILES) await copyFile(join(fw, f), join(pi, f));
        const dtbDir = join(kernel.tree, 'usr', 'lib', `linux-image-${kernel.kver}`, 'broadcom');
        for (const f of PI_DTBS) await copyFile(join(dtbDir, f), join(pi, f));
        // gzip'd: a third of the bytes over lock-step TFTP; the Pi firmware unpacks gzip'd arm64
        // kernels since its 2020-09 releases (raspi-firmware here: 1.20220830), GRUB with gzio
        await writeFile(join(pi, PI_KERNEL), gzipSync(await readFile(kernelImage), { level: 9 }));
        await copyFile(initramfsPath, join(pi, PI_INITRAMFS));
        // Optional single-stage runtime: a second initramfs holding /runtime.squashfs, for
        // `initramfs runtime8,initramfs8 followkernel` (no HTTP needed; used by the raspi3b e2e).
        await writeFile(
          join(pi, PI_RUNTIME_INITRAMFS),
          encodeCpio([{ type: 'file', path: 'runtime.squashfs', mode: 0o644, data: await readFile(runtime.path) }], { mtime: epoch }),
        );
        await writeFile(join(pi, 'config.txt'), piConfigTxt(imageVersion));
        await writeFile(join(pi, 'cmdline.txt'), piCmdlineTemplate());
        await layPxeLoaders(pi, {
          ipxeRoot: await unpacked('ipxe'),
          grubRoot: await unpacked('grub-efi-arm64-bin'),
          workDir: join(workDir, 'grub'),
          imageVersion,
        });
        const problems = await checkPiBootDir(pi, { files: [...piBootLayout(), ...pxeBootLayout()].map((f) => f.name) });
        if (problems.length) throw new BuildStepError('Pi boot directory', problems.map((p) => `${p.file}: ${p.message}`).join('; '));
        const rt = join(staging, 'arm64');
        await mkdir(rt, { recursive: true });
        await copyFile(runtime.path, join(rt, 'runtime.squashfs'));
        await copyFile(icuLayer.path, join(rt, ICU_FILE));
        if (layer) await copyFile(layer.path, join(rt, LAYER_FILE));
      } else {
        const dir = join(staging, 'amd64');
        await mkdir(dir, { recursive: true });
        await copyFile(kernelImage, join(dir, 'vmlinuz'));
        await copyFile(initramfsPath, join(dir, 'initramfs.img'));
        await copyFile(runtime.path, join(dir, 'runtime.squashfs'));
        await copyFile(icuLayer.path, join(dir, ICU_FILE));
        if (layer) await copyFile(layer.path, join(dir, LAYER_FILE));
        await writeFile(join(dir, 'boot.ipxe'), amd64IpxeTemplate(imageVersion));
      }
      for (const sub of await readdir(staging)) {
        const final = join(outDir, sub);
        await rm(final, { recursive: true, force: true });
        await rename(join(staging, sub), final);
        for (const f of await readdir(final)) produced.push(join(final, f));
      }
      await rm(staging, { recursive: true, force: true });
    },
    () => `${produced.length} files`,
  );

  // 10 ─ manifest
  const manifest = await progress.step(
    'manifest',
    async () => {
      const m: ArchManifest = {
        arch: profile.arch,
        imageVersion,
        sourceDateEpoch: epoch,
        kernelVersion: kernel.kver,
        agent: { entry: agent.entry, placeholder: agent.placeholder },
        modules: { groups: kernel.selection.groups, builtin: kernel.selection.builtin, absent: kernel.selection.absent },
        packages: {
          requested: [...requested],
          layer: layer
            ? {
                path: `${profile.piFirmware ? 'arm64' : 'amd64'}/${LAYER_FILE}`,
                sizeBytes: layer.sizeBytes,
                unpackedBytes: layer.unpackedBytes,
                idleRamBytes: layer.idleRamBytes,
              }
            : null,
          installed: (layer?.debs ?? []).map((d) => ({ name: d.package, version: d.version, requested: requested.includes(d.package) })),
        },
        inputs,
        outputs: await describeOutputs(outDir, produced),
      };
      await writeManifest(outDir, m);
      return m;
    },
    (m) => `${m.outputs.length} outputs, image ${m.imageVersion}`,
  );
  await rm(workDir, { recursive: true, force: true });
  return { manifest, outDir };
}

/** The manifest section for arch when every output it lists is present with its recorded size. */
export async function currentBuild(outDir: string, arch: Arch, packages: readonly string[] = DEFAULT_IMAGE_PACKAGES): Promise<ArchManifest | undefined> {
  const m = (await readManifest(outDir))?.builds[arch];
  if (!m || m.packages?.requested.join(' ') !== packages.join(' ')) return undefined;
  for (const o of m.outputs) {
    const s = await stat(join(outDir, o.path)).catch(() => undefined);
    if (!s || s.size !== o.sizeBytes) return undefined;
  }
  return m;
}
