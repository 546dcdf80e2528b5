/**
 * The package layer: the Debian packages of `image.packages` / `--package` with their
 * dependencies, unpacked (dpkg-deb -x: no maintainer scripts) into one tree and squashed into
 * `<arch>/packages.squashfs`, beside the runtime. /init fetches it like the runtime, checks its
 * sha256, loop-mounts it and lays each of its top-level directories over the initramfs's with
 * overlayfs (upper dirs on tmpfs), so /usr/bin/python3 is where Debian put it.
 *
 * Separate from the runtime squashfs: the base stays what it was, and a change of packages
 * rebuilds only this layer (cached by the hash of its debs, the epoch and the compression).
 * Decisions (closure, pruning, RAM cost) are in packages.ts.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { extractDeb, type DownloadedDeb, type PrivateApt } from './apt.ts';
import { sha256, sha256File } from './hash.ts';
import { BASE_PROVIDED, isPrunedPath, layerIdleRamBytes, NOT_SHIPPED } from './packages.ts';
import { run } from './proc.ts';

/** xz: the layer is held compressed in RAM for the node's lifetime, so bytes count more than unpack speed. */
export const LAYER_COMPRESSION = ['-comp', 'xz', '-b', '256K', '-Xdict-size', '100%'];
/** Bumped when what goes into the tree changes (pruning rules), so cached layers are rebuilt. */
const LAYER_FORMAT = 'layer-1';
export const LAYER_FILE = 'packages.squashfs';

export interface PackageLayer {
  /** The names asked for (config + --package), in order. */
  readonly requested: readonly string[];
  /** Every package in the layer: the requested ones and their dependencies. */
  readonly debs: readonly DownloadedDeb[];
  readonly path: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** Bytes of the files in the tree (after pruning docs). */
  readonly unpackedBytes: number;
  /** What holding it costs a node at idle (packages.ts layerIdleRamBytes). */
  readonly idleRamBytes: number;
  readonly cached: boolean;
}

export interface LayerOptions {
  readonly apt: PrivateApt;
  readonly requested: readonly string[];
  readonly debDir: string;
  readonly workDir: string;
  readonly cacheDir: string;
  readonly sourceDateEpoch: number;
  readonly useCache?: boolean;
}

/** Resolves, downloads and builds (or takes from the cache) the layer; undefined for an empty list. */
export async function preparePackageLayer(o: LayerOptions): Promise<PackageLayer | undefined> {
  if (o.requested.length === 0) return undefined;
  const present = await o.apt.show([...BASE_PROVIDED, ...NOT_SHIPPED]);
  const closure = await o.apt.simulateInstall(o.requested, [...present.values()]);
  const infos = await o.apt.show(closure.map((c) => c.package));
  const debs = await o.apt.download([...infos.values()], o.debDir);
  const key = sha256(
    [
      LAYER_FORMAT,
      ...[...debs].sort((a, b) => a.package.localeCompare(b.package)).map((d) => `${d.package} ${d.version} ${d.sha256}`),
      String(o.sourceDateEpoch),
      LAYER_COMPRESSION.join(' '),
    ].join('\n'),
  ).slice(0, 24);
  const useCache = o.useCache ?? true;
  const path = useCache ? join(o.cacheDir, 'layer', `${key}.squashfs`) : join(o.workDir, `layer-${key}.squashfs`);
  const stage = join(o.workDir, 'layer');
  const sidecar = `${path}.json`;
  const cached = useCache && existsSync(path) && existsSync(sidecar);
  let unpackedBytes: number;
  if (cached) {
    unpackedBytes = (JSON.parse(await readFile(sidecar, 'utf8')) as { unpackedBytes: number }).unpackedBytes;
  } else {
    await rm(stage, { recursive: true, force: true });
    for (const d of debs) await extractDeb(d.path, stage);
    unpackedBytes = await prune(stage);
    await squash(stage, path, o.sourceDateEpoch);
    await writeFile(sidecar, JSON.stringify({ unpackedBytes }) + '\n');
    await rm(stage, { recursive: true, force: true });
  }
  const size = (await lstat(path)).size;
  return {
    requested: o.requested,
    debs,
    path,
    sha256: await sha256File(path),
    sizeBytes: size,
    unpackedBytes,
    idleRamBytes: layerIdleRamBytes(size),
    cached,
  };
}

/** Removes the pruned paths; returns the bytes of the regular files left. */
async function prune(root: string): Promise<number> {
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const full = join(dir, name);
      if (isPrunedPath(relative(root, full))) {
        await rm(full, { recursive: true, force: true });
        continue;
      }
      const st = await lstat(full);
      if (st.isDirectory()) await walk(full);
      else if (st.isFile()) bytes += st.size;
    }
  };
  await walk(root);
  return bytes;
}

async function squash(stage: string, out: string, epoch: number): Promise<void> {
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  await rm(tmp, { force: true });
  const args = [stage, tmp, '-noappend', '-no-progress', '-quiet', ...LAYER_COMPRESSION, '-all-root', '-no-xattrs', '-no-exports'];
  args.push('-all-time', String(epoch), '-mkfs-time', String(epoch), '-reproducible');
  const { SOURCE_DATE_EPOCH: _epoch, ...env } = process.env;
  await run('mksquashfs', args, { step: 'mksquashfs (package layer)', writes: tmp, env });
  await rename(tmp, out);
}
