/**
 * The board scripts end to end, as Buildroot runs them, on a fake output directory: a target
 * holding what the packages install (package/picluster-agent's own build step, a stand-in
 * node and node-pty, a kernel's lib/modules) and an images directory holding what linux,
 * rpi-firmware and the cpio rootfs leave there. The result is compared with build-image's
 * layout (image/build/pi-boot-layout.ts), templates and manifest types.
 */
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPiBootDir } from '../../image/build/check.ts';
import { decodeCpio } from '../../image/build/cpio.ts';
import { sha256 } from '../../image/build/hash.ts';
import { ROOTFS_LAYOUT } from '../../image/build/initramfs.ts';
import { PI_FIRMWARE_FILES } from '../../image/build/inputs.ts';
import type { ArchManifest, Manifest, ManifestInput, ManifestOutput } from '../../image/build/manifest.ts';
import { loadBoard } from './board.ts';
import { boardBootFiles, boardCmdlineTemplate, boardConfigTxt, boardExpectation } from './boot-dir.ts';
import { EXTERNAL_DIR, REPO_DIR } from './state.ts';
import { pxeBootLayout } from '../../image/build/pxe-loaders.ts';

const run = promisify(execFile);
const SCRIPTS = join(EXTERNAL_DIR, 'board', 'picluster', 'common');
const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
const missing = ['mksquashfs', 'depmod'].filter((t) => spawnSync(t, ['--help'], { env: { PATH }, stdio: 'ignore' }).error);
const KVER = '6.6.28-v8+';
const COMMIT = '576cc10e1ed50a9eacffc7a05c796051d7343ea4';
const EPOCH = 1_704_067_200;

// Every key of build-image's manifest types: a field added there fails the typecheck here.
const ARCH_KEYS = { arch: 1, imageVersion: 1, sourceDateEpoch: 1, kernelVersion: 1, agent: 1, modules: 1, packages: 1, inputs: 1, outputs: 1 } satisfies Record<
  keyof ArchManifest,
  1
>;
const INPUT_KEYS = { kind: 1, name: 1, version: 1, hash: 1 } satisfies Record<keyof ManifestInput, 1>;
const OUTPUT_KEYS = { path: 1, sizeBytes: 1, sha256: 1 } satisfies Record<keyof ManifestOutput, 1>;
const keys = (o: object): string[] => Object.keys(o).sort();

let root: string;
let agentTree: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'picluster-br-'));
  agentTree = join(root, 'agent-tree');
  // package/picluster-agent's build step (PICLUSTER_AGENT_BUILD_CMDS)
  await run(process.execPath, [join(EXTERNAL_DIR, 'support', 'run.mjs'), 'install-agent', '--out', agentTree]);
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Fake {
  readonly dir: string;
  readonly target: string;
  readonly images: string;
  readonly env: NodeJS.ProcessEnv;
}

function fakeOutput(board: string, dtbs: readonly string[]): Fake {
  const dir = join(root, board);
  const target = join(dir, 'target');
  const images = join(dir, 'images');
  const put = (path: string, data: string | Buffer): void => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, data);
  };
  cpSync(agentTree, target, { recursive: true });
  put(join(target, 'usr/bin/node'), `node for ${board}`);
  put(join(target, 'usr/lib/node_modules/node-pty/package.json'), '{ "name": "node-pty", "version": "1.1.0" }\n');
  put(join(target, 'usr/lib/node_modules/node-pty/build/Release/pty.node'), 'pty');
  // the NIC/watchdog drivers are built in; a stray file stands for the modules nobody wants
  const mod = join(target, 'lib/modules', KVER);
  put(
    join(mod, 'modules.builtin'),
    'kernel/drivers/net/usb/smsc95xx.ko\nkernel/drivers/net/ethernet/broadcom/genet/genet.ko\nkernel/drivers/watchdog/bcm2835_wdt.ko\n',
  );
  put(join(mod, 'kernel/sound/unwanted.txt'), 'x');
  for (const f of PI_FIRMWARE_FILES) put(join(images, 'rpi-firmware', f), `fw ${f}`);
  for (const d of dtbs) put(join(images, d), `dtb ${d}`);
  put(join(images, 'Image'), `kernel for ${board}`);
  put(join(dir, 'staging/usr/include/node/node_version.h'), '#define NODE_MAJOR_VERSION 22\n#define NODE_MINOR_VERSION 13\n#define NODE_PATCH_VERSION 1\n');
  put(
    join(dir, '.config'),
    `#\n# Automatically generated file; DO NOT EDIT.\n# Buildroot 2025.02.18 Configuration\n#\nBR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION="$(call github,raspberrypi,linux,${COMMIT})/linux-${COMMIT}.tar.gz"\n`,
  );
  mkdirSync(join(dir, 'build'), { recursive: true });
  const env = {
    PATH,
    HOME: process.env.HOME,
    BR2_CONFIG: join(dir, '.config'),
    BUILD_DIR: join(dir, 'build'),
    BINARIES_DIR: images,
    STAGING_DIR: join(dir, 'staging'),
    TARGET_DIR: target,
    SOURCE_DATE_EPOCH: String(EPOCH),
  };
  return { dir, target, images, env };
}

const script = (f: Fake, name: string, arg: string, board: string): Promise<{ stdout: string; stderr: string }> =>
  run('sh', [join(SCRIPTS, `${name}.sh`), arg, '--board', board], { env: f.env });

describe.skipIf(missing.length > 0)(`board scripts on a fake Buildroot output (skipped without ${missing.join(', ')})`, () => {
  it.each(['rpi3', 'rpi4', 'rpi5'])(
    "%s: post-build, post-fakeroot and post-image produce build-image's layout",
    async (name) => {
      const board = await loadBoard(EXTERNAL_DIR, name);
      const f = fakeOutput(name, board.dtbs);

      // post-build: identity in the target, modules lists, the runtime squashfs
      await script(f, 'post-build', f.target, name);
      const etc = join(f.target, 'etc/picluster');
      const imageVersion = readFileSync(join(etc, 'image-version'), 'utf8').trim();
      expect(imageVersion).toMatch(/^0\.1\.0\+[0-9a-f]{12}$/);
      expect(readFileSync(join(etc, 'arch'), 'utf8')).toBe('arm64\n');
      expect(readdirSync(join(etc, 'modules')).sort()).toEqual(['early', 'pi3', 'pi4', 'runtime', 'sensors', 'virt', 'watchdog']);

      // post-fakeroot on the copy that becomes the initramfs
      const rootfs = join(f.dir, 'rootfs-copy');
      cpSync(f.target, rootfs, { recursive: true });
      await script(f, 'post-fakeroot', rootfs, name);
      for (const gone of ['usr/bin/node', 'usr/lib/node_modules', 'opt/picluster/agent', `lib/modules/${KVER}/kernel/sound/unwanted.txt`]) {
        expect(existsSync(join(rootfs, gone)), gone).toBe(false);
      }
      expect(existsSync(join(rootfs, 'opt/picluster'))).toBe(true);
      expect(readFileSync(join(rootfs, `lib/modules/${KVER}/modules.dep`), 'utf8')).toBe('');
      for (const { file, path, mode } of ROOTFS_LAYOUT) {
        // the same /init and helpers as the default image: image/rootfs, byte for byte
        expect(readFileSync(join(rootfs, path)).equals(readFileSync(join(REPO_DIR, 'image/rootfs', file))), path).toBe(true);
        expect(statSync(join(rootfs, path)).mode & 0o777, path).toBe(mode);
      }
      // the real target keeps node: a second `make` runs post-build again
      expect(existsSync(join(f.target, 'usr/bin/node'))).toBe(true);

      // post-image
      writeFileSync(join(f.images, 'rootfs.cpio.lz4'), `initramfs for ${name}`);
      const { stdout } = await script(f, 'post-image', f.images, name);
      const out = join(f.images, 'picluster');
      expect(JSON.parse(stdout)).toMatchObject({ board: name, imageVersion, out });
      const pi = join(out, 'pi');
      expect(readdirSync(pi).sort()).toEqual(
        boardBootFiles(board)
          .map((x) => x.name)
          .sort(),
      );
      expect(await checkPiBootDir(pi, boardExpectation(board))).toEqual([]);
      expect(readFileSync(join(pi, 'config.txt'), 'utf8')).toBe(boardConfigTxt(board, imageVersion, '2025.02.18'));
      expect(readFileSync(join(pi, 'cmdline.txt'), 'utf8')).toBe(boardCmdlineTemplate(board));
      expect(readFileSync(join(pi, 'kernel8.img'), 'utf8')).toBe(`kernel for ${name}`);
      expect(readFileSync(join(pi, 'initramfs8'), 'utf8')).toBe(`initramfs for ${name}`);
      for (const fw of boardBootFiles(board).filter((x) => x.role === 'firmware')) expect(readFileSync(join(pi, fw.name), 'utf8')).toBe(`fw ${fw.name}`);

      const runtime = readFileSync(join(out, 'arm64/runtime.squashfs'));
      expect(runtime.subarray(0, 4).toString('latin1')).toBe('hsqs');
      expect(readFileSync(join(etc, 'runtime.sha256'), 'utf8')).toBe(`${sha256(runtime)}\n`);
      const members = decodeCpio(readFileSync(join(pi, 'runtime8')));
      expect(members.map((m) => m.path)).toEqual(['runtime.squashfs']);
      expect(Buffer.from(members[0]?.data ?? []).equals(runtime)).toBe(true);

      // manifest: build-image's shape, this build's outputs
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
      expect(manifest.schema).toBe(1);
      expect(keys(manifest.builds)).toEqual(['arm64']);
      const m = manifest.builds.arm64 as ArchManifest;
      expect(keys(m)).toEqual(keys(ARCH_KEYS));
      for (const i of m.inputs) expect(keys(i)).toEqual(keys(INPUT_KEYS));
      for (const o of m.outputs) expect(keys(o)).toEqual(keys(OUTPUT_KEYS));
      expect(m).toMatchObject({ arch: 'arm64', imageVersion, sourceDateEpoch: EPOCH, kernelVersion: KVER, agent: { placeholder: false } });
      expect(m.modules.builtin).toEqual(expect.arrayContaining(['bcm2835_wdt']));
      expect(m.inputs.find((i) => i.name === 'linux')?.version).toBe(`${KVER} raspberrypi/linux@${COMMIT}`);
      expect(m.inputs.find((i) => i.name === 'buildroot')?.version).toBe('2025.02.18');
      expect(m.inputs.find((i) => i.name === 'nodejs')?.version).toBe('22.13.1');
      const files = [...readdirSync(pi).map((x) => `pi/${x}`), 'arm64/runtime.squashfs'].sort();
      expect(m.outputs.map((o) => o.path)).toEqual(files);
      for (const o of m.outputs)
        expect(o).toEqual({ path: o.path, sizeBytes: statSync(join(out, o.path)).size, sha256: sha256(readFileSync(join(out, o.path))) });

      // again, as the next `make` would, with node gone from the target: same image
      rmSync(join(f.target, 'usr/bin/node'));
      await script(f, 'post-build', f.target, name);
      expect(readFileSync(join(etc, 'image-version'), 'utf8').trim()).toBe(imageVersion);
    },
    60_000,
  );

  // The typed shape is checked above; this also compares with a real build when there is one.
  const dist = join(REPO_DIR, 'image/dist/manifest.json');
  const distArm64 = existsSync(dist) && (JSON.parse(readFileSync(dist, 'utf8')) as Manifest).builds.arm64 !== undefined;
  it.skipIf(!distArm64)('matches a real build-image manifest in image/dist (skipped: no arm64 build there; run npm run build-image)', async () => {
    const theirs = (JSON.parse(readFileSync(dist, 'utf8')) as Manifest).builds.arm64 as ArchManifest;
    const f = join(root, 'rpi3', 'images/picluster/manifest.json');
    const ours = (JSON.parse(readFileSync(f, 'utf8')) as Manifest).builds.arm64 as ArchManifest;
    expect(keys(ours)).toEqual(keys(theirs));
    expect(keys(ours.modules)).toEqual(keys(theirs.modules));
    expect(keys(ours.modules.groups)).toEqual(keys(theirs.modules.groups));
    // build-image's TFTP root also holds the PXE loaders (iPXE, GRUB); Buildroot builds the Pi files
    const pxe = new Set(pxeBootLayout().map((f) => f.name));
    const theirPi = theirs.outputs
      .filter((o) => o.path.startsWith('pi/'))
      .map((o) => relative('pi', o.path))
      .filter((n) => !pxe.has(n));
    const board = await loadBoard(EXTERNAL_DIR, 'rpi3');
    // everything but the device trees (the Raspberry Pi kernel's names differ from Debian's)
    const noDtb = (l: string[]): string[] => l.filter((n) => !n.endsWith('.dtb')).sort();
    expect(noDtb(ours.outputs.filter((o) => o.path.startsWith('pi/')).map((o) => relative('pi', o.path)))).toEqual(noDtb(theirPi));
    expect(board.dtbs.length).toBeGreaterThan(0);
  });

  it('post-image refuses to run before post-build, naming why', async () => {
    const f = fakeOutput('early', []);
    const err = (await script(f, 'post-image', f.images, 'rpi4').catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/BUILD_STEP_FAILED: .*post-build script has not run/);
  });

  it('post-image names a Buildroot output that is missing', async () => {
    const board = await loadBoard(EXTERNAL_DIR, 'rpi5');
    const f = fakeOutput('nokernel', board.dtbs);
    await script(f, 'post-build', f.target, 'rpi5');
    writeFileSync(join(f.images, 'rootfs.cpio.lz4'), 'i');
    rmSync(join(f.images, 'Image'));
    const err = (await script(f, 'post-image', f.images, 'rpi5').catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/kernel8\.img \(kernel\) needs .*\/Image, which Buildroot did not produce/);
  }, 30_000);
});
