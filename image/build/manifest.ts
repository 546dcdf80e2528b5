/**
 * manifest.json: what went in (every input with version and hash) and what came out (every
 * output with size and sha256), per architecture, plus the image version. No timestamps, so
 * two builds of the same inputs write the same manifest.
 */
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Arch } from './inputs.ts';
import { sha256File } from './hash.ts';

export interface ManifestInput {
  readonly kind: 'deb' | 'npm' | 'source' | 'tool';
  readonly name: string;
  readonly version: string;
  /** `sha256:<hex>` for debs and sources, npm's `sha512-…` integrity for npm packages. */
  readonly hash: string;
}

export interface ManifestOutput {
  readonly path: string;
  readonly sizeBytes: number;
  readonly sha256: string;
}

export interface ArchManifest {
  readonly arch: Arch;
  readonly imageVersion: string;
  readonly sourceDateEpoch: number;
  readonly kernelVersion: string;
  readonly agent: { readonly entry: string; readonly placeholder: boolean };
  readonly modules: { readonly groups: Readonly<Record<string, readonly string[]>>; readonly builtin: readonly string[]; readonly absent: readonly string[] };
  /** The package layer (absent in manifests from before it existed). */
  readonly packages?: ManifestPackages;
  readonly inputs: readonly ManifestInput[];
  readonly outputs: readonly ManifestOutput[];
}

export interface ManifestPackages {
  /** image.packages + --package, as asked. */
  readonly requested: readonly string[];
  /** null when nothing was requested (no layer). */
  readonly layer: { readonly path: string; readonly sizeBytes: number; readonly unpackedBytes: number; readonly idleRamBytes: number } | null;
  /** Every package in the layer with its version; `requested` false = pulled in as a dependency. */
  readonly installed: ReadonlyArray<{ readonly name: string; readonly version: string; readonly requested: boolean }>;
}

export interface Manifest {
  readonly schema: 1;
  readonly builds: Partial<Record<Arch, ArchManifest>>;
}

export async function describeOutputs(outDir: string, files: readonly string[]): Promise<ManifestOutput[]> {
  const out: ManifestOutput[] = [];
  for (const f of [...files].sort()) {
    out.push({ path: relative(outDir, f), sizeBytes: (await stat(f)).size, sha256: await sha256File(f) });
  }
  return out;
}

export async function readManifest(outDir: string): Promise<Manifest | undefined> {
  const path = join(outDir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  try {
    const m = JSON.parse(await readFile(path, 'utf8')) as Manifest;
    return m.schema === 1 ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Writes this arch's section, keeping the other arch's section from an earlier build. */
export async function writeManifest(outDir: string, build: ArchManifest): Promise<Manifest> {
  const previous = await readManifest(outDir);
  const builds: Partial<Record<Arch, ArchManifest>> = { ...(previous?.builds ?? {}), [build.arch]: build };
  const sorted: Partial<Record<Arch, ArchManifest>> = {};
  for (const k of Object.keys(builds).sort() as Arch[]) sorted[k] = builds[k];
  const manifest: Manifest = { schema: 1, builds: sorted };
  await writeFile(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
