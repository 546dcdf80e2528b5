/**
 * Build inputs read from disk: the shared libraries the base takes from the glibc/gcc debs, and
 * the hash of the builder's own sources (part of the image version).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './agent-bundle.ts';
import { PackageMissingError } from './errors.ts';
import { sha256 } from './hash.ts';
import { RUNTIME_LIBS, type ArchProfile } from './inputs.ts';

const DEB_REGISTRY = 'Debian archive';

/** Finds each shared library (and the ELF interpreter) in the unpacked glibc/gcc debs. */
export async function collectLibs(profile: ArchProfile, roots: readonly string[]): Promise<Map<string, Uint8Array>> {
  const wanted = [...RUNTIME_LIBS, profile.interpreter.target.split('/').pop() as string];
  const libs = new Map<string, Uint8Array>();
  for (const soname of wanted) {
    let found: string | undefined;
    for (const root of roots) {
      for (const dir of [join(root, 'lib', profile.triplet), join(root, 'usr', 'lib', profile.triplet)]) {
        if (!found && existsSync(join(dir, soname))) found = await realpath(join(dir, soname));
      }
    }
    if (found) libs.set(soname, await readFile(found));
    else if (['libc.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'libm.so.6'].includes(soname) || soname.startsWith('ld-')) {
      throw new PackageMissingError(DEB_REGISTRY, soname, 'shared library not found in libc6/libgcc-s1/libstdc++6');
    }
  }
  return new Map([...libs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

export async function hashBuilderSources(rootfs: ReadonlyMap<string, Uint8Array>): Promise<string> {
  const dir = join(REPO_ROOT, 'image', 'build');
  const names = (await readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort();
  const parts: string[] = [];
  for (const n of names) parts.push(`${n} ${sha256(await readFile(join(dir, n)))}`);
  for (const [n, data] of [...rootfs.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) parts.push(`rootfs/${n} ${sha256(data)}`);
  return sha256(parts.join('\n'));
}
