/**
 * The real build: the Pi boot directory in image/dist is complete and consistent, and two
 * builds from the same (cached) inputs are byte-identical. Needs the host tools the build
 * uses (apt-get, dpkg-deb, mksquashfs, lz4, depmod, the aarch64 cross binutils); skips with
 * the missing tool named otherwise. The first run downloads into image/.cache.
 *
 * The second build of the reproducibility check is this test's own, unless
 * PICLUSTER_E2E_REPRO_DIR names one made with `build-image --arch arm64 --rebuild-runtime --out
 * <dir>` from this tree (.ci/run makes it in the background after image/dist, at the lowest
 * priority, with PICLUSTER_E2E_REPRO_PID the process making it: the test waits for it to end).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage, currentBuild, DEFAULT_CACHE_DIR } from '../../image/build/build.ts';
import { checkPiBootDir } from '../../image/build/check.ts';
import { IntegrityMismatchError, PackageMissingError } from '../../image/build/errors.ts';
import { fetchNpmPackage } from '../../image/build/npm-pack.ts';
import { decodeCpio } from '../../image/build/cpio.ts';
import { DEFAULT_SOURCE_DATE_EPOCH, PI_TFTP_MAX_BYTES } from '../../image/build/inputs.ts';
import type { ArchManifest, Manifest } from '../../image/build/manifest.ts';
import { DIST, ensureImage, haveTool } from './image-harness.ts';

const TOOLS: ReadonlyArray<[string, string[]]> = [
  ['apt-get', ['--version']],
  ['dpkg-deb', ['--version']],
  ['mksquashfs', ['-version']],
  ['lz4', ['--version']],
  ['depmod', ['--version']],
  ['aarch64-linux-gnu-strip', ['--version']],
  ['aarch64-linux-gnu-g++', ['--version']],
];
const missing = TOOLS.filter(([t, args]) => !haveTool(t, args)).map(([t]) => t);
const reason = missing.length ? ` (skipped: missing ${missing.join(', ')})` : '';

/** The second build made beforehand (PICLUSTER_E2E_REPRO_DIR), once the process making it has ended; undefined when there is none. */
async function preparedRebuild(): Promise<{ manifest: ArchManifest; dir: string } | undefined> {
  const dir = process.env.PICLUSTER_E2E_REPRO_DIR;
  if (!dir) return undefined;
  const pid = Number(process.env.PICLUSTER_E2E_REPRO_PID);
  if (Number.isInteger(pid) && pid > 0) {
    // tail --pid ends when that process does (it is not our child, so there is no exit event to await)
    const waiter = spawn('tail', [`--pid=${pid}`, '-f', '/dev/null'], { stdio: 'ignore' });
    const timer = setTimeout(() => waiter.kill(), 20 * 60_000);
    await once(waiter, 'exit');
    clearTimeout(timer);
  }
  const manifest = await currentBuild(dir, 'arm64');
  if (!manifest) process.stdout.write(`image-build: no complete arm64 build in ${dir}; this test builds its own\n`);
  return manifest ? { manifest, dir } : undefined;
}

describe.skipIf(missing.length > 0)(`build-image arm64${reason}`, () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('produces a complete, consistent Pi boot directory with every file within the Pi 3 TFTP limit', async () => {
    const manifest = await ensureImage('arm64');
    expect(await checkPiBootDir(join(DIST, 'pi'))).toEqual([]);
    const pi = manifest.outputs.filter((o) => o.path.startsWith('pi/'));
    expect(pi.map((o) => o.path)).toEqual(
      expect.arrayContaining([
        'pi/bootcode.bin',
        'pi/start.elf',
        'pi/fixup.dat',
        'pi/start4.elf',
        'pi/fixup4.dat',
        'pi/kernel8.img',
        'pi/initramfs8',
        'pi/config.txt',
        'pi/cmdline.txt',
        'pi/bcm2837-rpi-3-b-plus.dtb',
        'pi/bcm2711-rpi-4-b.dtb',
      ]),
    );
    for (const o of pi) expect(o.sizeBytes, o.path).toBeLessThanOrEqual(PI_TFTP_MAX_BYTES);
    // every input is pinned by version and hash
    for (const i of manifest.inputs.filter((x) => x.kind !== 'tool')) {
      expect(i.version, i.name).not.toBe('');
      expect(i.hash, i.name).toMatch(/^(sha256:[0-9a-f]{64}|sha512-)/);
    }
    expect(manifest.agent.placeholder).toBe(false);
    // the runtime initramfs carries exactly the runtime the initramfs expects
    const runtime8 = decodeCpio(readFileSync(join(DIST, 'pi', 'runtime8')));
    expect(runtime8.map((m) => m.path)).toEqual(['runtime.squashfs']);
    expect(manifest.outputs.find((o) => o.path === 'arm64/runtime.squashfs')?.sizeBytes).toBe(runtime8[0]?.data.length);
  }, 900_000);

  it('two builds from the same cached inputs are byte-identical (runtime squashfs rebuilt, not reused)', async () => {
    // the second build makes its runtime squashfs and layers afresh instead of taking the cached ones
    const prepared = await preparedRebuild();
    let b = prepared?.dir;
    let second = prepared;
    if (!b || !second) {
      b = mkdtempSync(join(tmpdir(), 'image-b-'));
      dirs.push(b);
      second = {
        ...(await buildImage({ arch: 'arm64', outDir: b, cacheDir: DEFAULT_CACHE_DIR, sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH, rebuildRuntime: true })),
        dir: b,
      };
    }
    // The first build is image/dist's when it is this tree's (a fresh checkout: the test above built it),
    // which saves CI one arm64 build; a dist left by an older tree gets a first build of its own.
    let firstDir = DIST;
    let first = await ensureImage('arm64');
    if (first.imageVersion !== second.manifest.imageVersion) {
      firstDir = mkdtempSync(join(tmpdir(), 'image-a-'));
      dirs.push(firstDir);
      first = (await buildImage({ arch: 'arm64', outDir: firstDir, cacheDir: DEFAULT_CACHE_DIR, sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH })).manifest;
    }
    expect(second.manifest.outputs).toEqual(first.outputs);
    expect(second.manifest.imageVersion).toBe(first.imageVersion);
    const section = (dir: string) => JSON.stringify((JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest).builds.arm64);
    expect(section(b)).toBe(section(firstDir));
    for (const o of first.outputs) expect(readFileSync(join(b, o.path)).equals(readFileSync(join(firstDir, o.path))), o.path).toBe(true);
  }, 900_000);
});

describe.skipIf(missing.length > 0)(`build-image package layer${reason}`, () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('the default layer has python3; the manifest records every package and version and the layer size', async () => {
    const manifest = await ensureImage('arm64');
    const p = manifest.packages;
    expect(p?.requested).toEqual(['python3-minimal', 'libpython3-stdlib']);
    const names = p?.installed.map((i) => i.name) ?? [];
    expect(names).toEqual(expect.arrayContaining(['python3-minimal', 'python3.11-minimal', 'libpython3.11-stdlib', 'libexpat1', 'zlib1g']));
    // the base has these; installing-only packages are left out
    for (const absent of ['libc6', 'libstdc++6', 'dpkg', 'debconf', 'perl-base']) expect(names).not.toContain(absent);
    for (const i of p?.installed ?? []) expect(i.version, i.name).toMatch(/^[0-9]/);
    expect(p?.installed.filter((i) => i.requested).map((i) => i.name)).toEqual(expect.arrayContaining(['python3-minimal', 'libpython3-stdlib']));
    const out = manifest.outputs.find((o) => o.path === 'arm64/packages.squashfs');
    expect(out?.sizeBytes).toBe(p?.layer?.sizeBytes);
    expect(p?.layer?.idleRamBytes).toBe(out?.sizeBytes);
    expect(p?.layer?.unpackedBytes).toBeGreaterThan(out?.sizeBytes ?? 0);
  }, 900_000);

  it('another package list rebuilds only the layer: the runtime squashfs is the same bytes', async () => {
    const base = await ensureImage('arm64');
    const dir = mkdtempSync(join(tmpdir(), 'image-layer-'));
    dirs.push(dir);
    const { manifest } = await buildImage({
      arch: 'arm64',
      outDir: dir,
      cacheDir: DEFAULT_CACHE_DIR,
      sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH,
      packages: ['python3-minimal'],
    });
    const sha = (m: typeof base, path: string) => m.outputs.find((o) => o.path === path)?.sha256;
    expect(sha(manifest, 'arm64/runtime.squashfs')).toBe(sha(base, 'arm64/runtime.squashfs'));
    expect(sha(manifest, 'arm64/packages.squashfs')).not.toBe(sha(base, 'arm64/packages.squashfs'));
    expect(manifest.imageVersion).not.toBe(base.imageVersion);
    expect(manifest.packages?.installed.map((i) => i.name)).not.toContain('libpython3.11-stdlib');
    // no packages: no layer at all
    const none = await buildImage({ arch: 'arm64', outDir: dir, cacheDir: DEFAULT_CACHE_DIR, sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH, packages: [] });
    expect(none.manifest.packages).toEqual({ requested: [], layer: null, installed: [] });
    expect(none.manifest.outputs.map((o) => o.path)).not.toContain('arm64/packages.squashfs');
    expect(sha(none.manifest, 'arm64/runtime.squashfs')).toBe(sha(base, 'arm64/runtime.squashfs'));
  }, 900_000);

  it('an unknown package is PACKAGE_MISSING naming it, before anything is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'image-unknown-'));
    dirs.push(dir);
    const err = await buildImage({
      arch: 'arm64',
      outDir: dir,
      cacheDir: DEFAULT_CACHE_DIR,
      sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH,
      packages: ['python3-minimal', 'picluster-no-such-package'],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageMissingError);
    expect((err as PackageMissingError).message).toContain('picluster-no-such-package');
    expect((err as PackageMissingError).message).not.toContain('python3-minimal');
    expect(existsSync(join(dir, 'manifest.json'))).toBe(false);
  }, 900_000);
});

describe.skipIf(!haveTool('npm'))('npm inputs are pinned', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('PACKAGE_MISSING for a version the registry does not have', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'npm-missing-'));
    dirs.push(cache);
    await expect(fetchNpmPackage({ name: 'yaml', version: '0.0.0-picluster-missing', integrity: 'sha512-x' }, cache)).rejects.toBeInstanceOf(
      PackageMissingError,
    );
  }, 120_000);

  it('INTEGRITY_MISMATCH when the tarball differs from the pinned integrity', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'npm-integrity-'));
    dirs.push(cache);
    const err = await fetchNpmPackage({ name: 'yaml', version: '2.3.4', integrity: 'sha512-AAAA' }, cache).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityMismatchError);
    expect((err as IntegrityMismatchError).message).toMatch(/expected sha512-AAAA, got sha512-/);
  }, 120_000);
});
