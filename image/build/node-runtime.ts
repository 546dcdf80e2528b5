/**
 * The Node.js binary for the target (stripped) and node-pty cross-built against its headers.
 * Both are cached under .cache/ keyed by the pinned versions, so a warm build only copies.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ToolMissingError } from './errors.ts';
import type { ArchProfile } from './inputs.ts';
import { NODE_PTY } from './inputs.ts';
import { fetchNpmPackage, type FetchedNpmPackage } from './npm-pack.ts';
import { run } from './proc.ts';

export interface PreparedNode {
  readonly tarball: FetchedNpmPackage;
  /** Stripped node binary for the target. */
  readonly binary: string;
  /** The package root with include/node (node-gyp's --nodedir). */
  readonly nodeDir: string;
  readonly cached: boolean;
}

export async function prepareNode(profile: ArchProfile, cacheDir: string): Promise<PreparedNode> {
  const tarball = await fetchNpmPackage(profile.node, cacheDir);
  const dir = join(cacheDir, 'node', `${profile.node.name}-${profile.node.version}`);
  const done = join(dir, '.complete');
  const binary = join(dir, 'node');
  const nodeDir = join(dir, 'package');
  if (existsSync(done) && tarball.cached) return { tarball, binary, nodeDir, cached: true };
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await run('tar', ['-xzf', tarball.path, '-C', dir, 'package/bin/node', 'package/include'], { step: 'extract node', writes: dir });
  await run(profile.strip, ['--strip-unneeded', '-o', binary, join(nodeDir, 'bin', 'node')], { step: 'strip node', writes: dir });
  await rm(join(nodeDir, 'bin'), { recursive: true, force: true });
  await writeFile(done, `${profile.node.integrity}\n`);
  return { tarball, binary, nodeDir, cached: false };
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
