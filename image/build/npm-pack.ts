/**
 * Pinned npm packages fetched with `npm pack <name>@<version>` (the ordinary client, so the
 * user's registry and proxy settings apply), cached by name+version and verified against
 * the pinned integrity on every use.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { IntegrityMismatchError, PackageMissingError, RegistryUnreachableError } from './errors.ts';
import { integrityOfFile } from './hash.ts';
import type { PinnedNpmPackage } from './inputs.ts';
import { failure, runRaw } from './proc.ts';

export interface FetchedNpmPackage extends PinnedNpmPackage {
  readonly path: string;
  readonly cached: boolean;
}

const REGISTRY = 'npm registry';

export async function fetchNpmPackage(pkg: PinnedNpmPackage, cacheDir: string): Promise<FetchedNpmPackage> {
  const dir = join(cacheDir, 'npm');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${pkg.name.replace(/^@/, '').replace(/\//g, '-')}-${pkg.version}.tgz`);
  if (existsSync(file)) {
    if ((await integrityOfFile(file)) === pkg.integrity) return { ...pkg, path: file, cached: true };
    await rm(file);
  }
  const tmp = join(dir, `.partial-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const spec = `${pkg.name}@${pkg.version}`;
  const opts = { step: `npm pack ${spec}`, cwd: tmp, writes: dir };
  const r = await runRaw('npm', ['pack', spec, '--pack-destination', tmp, '--json', '--silent'], opts);
  if (r.code !== 0) {
    const text = `${r.stderr}\n${r.stdout}`;
    if (/E404|ETARGET|No matching version|not in this registry/i.test(text)) throw new PackageMissingError(REGISTRY, spec);
    if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network|socket hang up|E5\d\d/i.test(text)) {
      throw new RegistryUnreachableError(REGISTRY, text.trim().split('\n').slice(-2).join(' | '));
    }
    throw failure('npm', r, opts);
  }
  const got = (await readdir(tmp)).find((f) => f.endsWith('.tgz'));
  if (!got) throw new PackageMissingError(REGISTRY, spec, 'npm pack produced no tarball');
  const actual = await integrityOfFile(join(tmp, got));
  if (actual !== pkg.integrity) throw new IntegrityMismatchError(spec, pkg.integrity, actual);
  await rename(join(tmp, got), file);
  await rm(tmp, { recursive: true, force: true });
  return { ...pkg, path: file, cached: false };
}
