/**
 * The image's identity for a Buildroot build: the manifest inputs (Buildroot version, its
 * .config, kernel, firmware, node, node-pty, the agent bundle, the builder's sources) and the
 * image version derived from them, in the same form as build-image's
 * (`<package version>+<12 hex of the hash of every input>`).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256, sha256File } from '../../image/build/hash.ts';
import { ROOTFS_LAYOUT } from '../../image/build/initramfs.ts';
import type { ManifestInput } from '../../image/build/manifest.ts';
import { EXTERNAL_DIR, REPO_DIR } from './state.ts';

export function imageVersionOf(packageVersion: string, inputs: readonly ManifestInput[], epoch: number, board: string): string {
  const lines = inputs.map((i) => `${i.kind} ${i.name} ${i.version} ${i.hash}`).join('\n');
  return `${packageVersion}+${sha256(`${lines}\nepoch ${epoch}\narch arm64\nbuildroot-board ${board}`).slice(0, 12)}`;
}

export async function packageVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(REPO_DIR, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Hash of everything that decides how the image is assembled: image/build, image/rootfs and this tree. */
export async function builderSourcesHash(board: string): Promise<string> {
  const parts: string[] = [];
  const add = async (dir: string, label: string, keep: (name: string) => boolean): Promise<void> => {
    for (const n of (await readdir(dir)).filter(keep).sort()) parts.push(`${label}/${n} ${sha256(await readFile(join(dir, n)))}`);
  };
  const ts = (n: string): boolean => n.endsWith('.ts') && !n.endsWith('.test.ts');
  await add(join(REPO_DIR, 'image', 'build'), 'image/build', ts);
  await add(join(EXTERNAL_DIR, 'support'), 'buildroot/support', (n) => ts(n) || n.endsWith('.mjs'));
  await add(join(EXTERNAL_DIR, 'board', 'picluster', 'common'), 'board/common', () => true);
  await add(join(EXTERNAL_DIR, 'board', 'picluster', board), `board/${board}`, () => true);
  for (const { file } of ROOTFS_LAYOUT) parts.push(`image/rootfs/${file} ${sha256(await readFile(join(REPO_DIR, 'image', 'rootfs', file)))}`);
  return sha256(parts.join('\n'));
}

/** Combined hash of a set of files (name + content), or '' when there are none. */
export async function filesHash(dir: string, names: readonly string[]): Promise<string> {
  const present = names.filter((n) => existsSync(join(dir, n)));
  if (present.length === 0) return '';
  const lines: string[] = [];
  for (const n of [...present].sort()) lines.push(`${n} ${await sha256File(join(dir, n))}`);
  return `sha256:${sha256(lines.join('\n'))}`;
}

/** Node's version from the staging headers (node_version.h), when Buildroot installed them. */
export async function nodeVersionFromHeaders(stagingDir: string | undefined): Promise<string> {
  if (!stagingDir) return 'unknown';
  const h = await readFile(join(stagingDir, 'usr', 'include', 'node', 'node_version.h'), 'utf8').catch(() => '');
  const num = (k: string): string | undefined => new RegExp(`#define ${k} (\\d+)`).exec(h)?.[1];
  const [a, b, c] = [num('NODE_MAJOR_VERSION'), num('NODE_MINOR_VERSION'), num('NODE_PATCH_VERSION')];
  return a && b && c ? `${a}.${b}.${c}` : 'unknown';
}
