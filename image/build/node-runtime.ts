/**
 * The Node.js binary for the target (stripped) and node-pty cross-built against its headers.
 * Both are cached under .cache/ keyed by the pinned versions, so a warm build only copies.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ToolMissingError } from './errors.ts';
import { checkSubset, findIcuBlob, keepInSubset, parseCommonData, replaceIcuBlob } from './icu-data.ts';
import type { ArchProfile } from './inputs.ts';
import { NODE_PTY } from './inputs.ts';
import { fetchNpmPackage, type FetchedNpmPackage } from './npm-pack.ts';
import { run } from './proc.ts';

export interface PreparedNode {
  readonly tarball: FetchedNpmPackage;
  /** Stripped node binary for the target, with only the root + en ICU subset embedded (icu-data.ts). */
  readonly binary: string;
  /** The full ICU data taken out of it: `<dir>/<packageName>.dat` (NODE_ICU_DATA=<dir> for jobs). */
  readonly icu: {
    readonly dir: string;
    readonly packageName: string;
    readonly fullBytes: number;
    readonly embeddedItems: number;
    readonly embeddedBytes: number;
  };
  /** The package root with include/node (node-gyp's --nodedir). */
  readonly nodeDir: string;
  readonly cached: boolean;
}

export async function prepareNode(profile: ArchProfile, cacheDir: string): Promise<PreparedNode> {
  const tarball = await fetchNpmPackage(profile.node, cacheDir);
  const dir = join(cacheDir, 'node', `${profile.node.name}-${profile.node.version}`);
  // (.complete-icu: caches from before the ICU split are redone)
  const done = join(dir, '.complete-icu');
  const binary = join(dir, 'node');
  const nodeDir = join(dir, 'package');
  const icuDir = join(dir, 'icu');
  if (existsSync(done) && tarball.cached) {
    const icu = { ...(JSON.parse(await readFile(done, 'utf8')) as PreparedNode['icu']), dir: icuDir };
    return { tarball, binary, nodeDir, icu, cached: true };
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await run('tar', ['-xzf', tarball.path, '-C', dir, 'package/bin/node', 'package/include'], { step: 'extract node', writes: dir });
  const stripped = join(dir, 'node.full-icu');
  await run(profile.strip, ['--strip-unneeded', '-o', stripped, join(nodeDir, 'bin', 'node')], { step: 'strip node', writes: dir });
  await rm(join(nodeDir, 'bin'), { recursive: true, force: true });
  const icu = await splitIcu(stripped, binary, icuDir, dir);
  await rm(stripped, { force: true });
  await writeFile(done, `${JSON.stringify(icu)}\n`);
  return { tarball, binary, nodeDir, icu, cached: false };
}

/**
 * Takes the ICU common data out of `from`: writes it whole to `<icuDir>/<package>.dat`, makes the
 * root + en subset with icupkg (only removes items, so every item it keeps is the full one's
 * bytes; checked) and writes `to`, the binary with the subset in the blob's place.
 */
async function splitIcu(from: string, to: string, icuDir: string, workDir: string): Promise<PreparedNode['icu']> {
  const elf = await readFile(from);
  const blob = findIcuBlob(elf);
  const full = elf.subarray(blob.offset, blob.offset + blob.length);
  await mkdir(icuDir, { recursive: true });
  const fullPath = join(icuDir, `${blob.packageName}.dat`);
  await writeFile(fullPath, full);
  const drop = parseCommonData(full).items.filter((i) => !keepInSubset(i.name));
  const list = join(workDir, 'icu-remove.txt');
  await writeFile(list, drop.map((i) => `${i.name}\n`).join(''));
  // icupkg names the items after the output file's base name: it must be the package's name
  const subDir = join(workDir, 'icu-subset');
  await mkdir(subDir, { recursive: true });
  const subPath = join(subDir, `${blob.packageName}.dat`);
  // --ignore-deps: brkitr/root.res names the segmentation dictionaries, which jobs get from the full data
  await run('icupkg', ['-tl', '--ignore-deps', '-r', list, fullPath, subPath], { step: 'icupkg (ICU subset)', writes: subDir });
  const subset = await readFile(subPath);
  const { items } = checkSubset(full, subset);
  await writeFile(to, replaceIcuBlob(elf, blob, subset), { mode: 0o755 });
  await rm(subDir, { recursive: true, force: true });
  await rm(list, { force: true });
  return { dir: icuDir, packageName: blob.packageName, fullBytes: blob.length, embeddedItems: items, embeddedBytes: subset.length };
}

export interface PreparedNodePty {
  readonly tarball: FetchedNpmPackage;
  /** A directory laid out as node_modules/node-pty needs at run time. */
  readonly packageDir: string;
  readonly cached: boolean;
}

function nodeGypScript(): string {
  // node-gyp ships inside npm, next to the running node: <prefix>/lib/node_modules/npm/...
  const candidates = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new ToolMissingError('node-gyp', 'npm (ships node-gyp) or node-gyp');
  return found;
}

/** Cross-builds node-pty's pty.node for the target with node-gyp and the Debian cross toolchain. */
export async function prepareNodePty(profile: ArchProfile, node: PreparedNode, cacheDir: string): Promise<PreparedNodePty> {
  const tarball = await fetchNpmPackage(NODE_PTY, cacheDir);
  const dir = join(cacheDir, 'node-pty', `${NODE_PTY.version}-${profile.arch}-node${profile.node.version}`);
  const packageDir = join(dir, 'node-pty');
  const done = join(dir, '.complete');
  if (existsSync(done) && tarball.cached) return { tarball, packageDir, cached: true };
  await rm(dir, { recursive: true, force: true });
  const src = join(dir, 'src');
  await mkdir(src, { recursive: true });
  await run('tar', ['-xzf', tarball.path, '-C', src], { step: 'extract node-pty', writes: src });
  const pkg = join(src, 'package');
  // node-addon-api (headers only) is node-pty's one dependency; no install scripts run.
  await run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock', '--silent'], {
    step: 'node-pty deps',
    cwd: pkg,
    writes: pkg,
  });
  const env = { ...process.env, CC: profile.cc, CXX: profile.cxx, LINK: profile.cxx, npm_config_nodedir: node.nodeDir };
  await run(process.execPath, [nodeGypScript(), 'rebuild', `--arch=${profile.gypArch}`, `--nodedir=${node.nodeDir}`, '--jobs=2'], {
    step: 'node-gyp build node-pty',
    cwd: pkg,
    env,
    writes: pkg,
  });
  await mkdir(join(packageDir, 'build', 'Release'), { recursive: true });
  await run(profile.strip, ['--strip-unneeded', '-o', join(packageDir, 'build', 'Release', 'pty.node'), join(pkg, 'build', 'Release', 'pty.node')], {
    step: 'strip pty.node',
  });
  await cp(join(pkg, 'package.json'), join(packageDir, 'package.json'));
  await cp(join(pkg, 'lib'), join(packageDir, 'lib'), { recursive: true, filter: (s) => !/\.test\.js$|\.map$|[/\\]testUtils/.test(s) });
  await rm(src, { recursive: true, force: true });
  await writeFile(done, `${NODE_PTY.integrity}\n`);
  return { tarball, packageDir, cached: false };
}

/** Moves a finished directory into place atomically-ish (rename within one filesystem). */
export async function replaceDir(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
}

export async function listFilesRecursive(dir: string, base = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFilesRecursive(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}
