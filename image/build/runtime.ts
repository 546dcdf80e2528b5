/**
 * The second stage: a squashfs (xz) holding node, the agent bundle and node-pty, fetched
 * by /init over HTTP and loop-mounted read-only from RAM (it stays compressed: only the
 * pages in use are decompressed into the page cache). mksquashfs runs with fixed owners,
 * times and no xattrs, so the same tree gives the same bytes.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { sha256, sha256File } from './hash.ts';
import type { Arch } from './inputs.ts';
import { run } from './proc.ts';

export interface RuntimeInputs {
  readonly nodeBinary: string;
  readonly agentCode: Uint8Array;
  /** Directory laid out like node_modules/node-pty, or undefined to ship without a pty. */
  readonly nodePtyDir: string | undefined;
  /** mksquashfs compression arguments (runtimeCompression); default SQUASHFS_COMPRESSION. */
  readonly compression?: readonly string[];
}

/**
 * xz with 256 KiB blocks: the squashfs stays in /run (tmpfs), so every byte of it is a byte of
 * the node's idle RAM. With Node 24's 98.6 MiB arm64 binary zstd-15 made 36.4 MB (over the Pi 3
 * `runtime8` TFTP limit), xz -b 256K 30.4 MB; a page fault decompresses at most one 256 KiB block.
 * Not bigger blocks: the kernel's squashfs keeps 3 fragment buffers, and a data buffer and an xz
 * dictionary per possible CPU (Debian: DECOMP_MULTI_PERCPU), each one block, unreclaimable, per
 * mount; on a 4-core Pi 3 -b 512K would add an estimated 2.75 MiB of them to save 1.0 MB of file.
 */
/** Bumped when the tree's layout changes. */
const RUNTIME_LAYOUT = 'runtime-2: libexec/node + bin/node shim';

export const SQUASHFS_COMPRESSION = ['-comp', 'xz', '-b', '256K'];

/**
 * The mksquashfs compression for an architecture's runtime. amd64 adds xz's x86 branch filter
 * (-Xbcj x86: 32,071,680 → 31,047,680 bytes with Node 24.22.3; Debian's amd64 kernel has
 * XZ_DEC_X86). arm64 has none: squashfs-tools 4.5 and the 6.1 kernel know no ARM64 filter (the
 * kernel's arm64 config also leaves XZ_DEC_ARM off).
 */
export function runtimeCompression(arch: Arch): readonly string[] {
  return arch === 'amd64' ? [...SQUASHFS_COMPRESSION, '-Xbcj', 'x86'] : SQUASHFS_COMPRESSION;
}

/**
 * Builds (or reuses from cacheDir/runtime) the runtime squashfs; returns its path. The
 * cache key covers every input byte and the epoch.
 */
export async function buildRuntime(
  i: RuntimeInputs,
  workDir: string,
  cacheDir: string,
  sourceDateEpoch: number,
  useCache = true,
): Promise<{ path: string; cached: boolean }> {
  const compression = i.compression ?? SQUASHFS_COMPRESSION;
  const key = sha256(
    [
      await sha256File(i.nodeBinary),
      sha256(i.agentCode),
      i.nodePtyDir ? await sha256File(join(i.nodePtyDir, 'build', 'Release', 'pty.node')) : 'no-pty',
      String(sourceDateEpoch),
      compression.join(' '),
      RUNTIME_LAYOUT,
      JOB_NODE_SHIM,
    ].join('\n'),
  ).slice(0, 24);
  // useCache=false builds into the work dir (the reproducibility test compares it to the cached one)
  const cached = useCache ? join(cacheDir, 'runtime', `${key}.squashfs`) : join(workDir, `runtime-${key}.squashfs`);
  if (useCache && existsSync(cached)) return { path: cached, cached: true };

  const stage = join(workDir, 'runtime');
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, 'bin'), { recursive: true });
  await mkdir(join(stage, 'libexec'), { recursive: true });
  await mkdir(join(stage, 'agent'), { recursive: true });
  // the real binary (the agent's; root + en ICU embedded) and, on PATH, the node of jobs
  await copyFile(i.nodeBinary, join(stage, 'libexec', 'node'));
  await chmod(join(stage, 'libexec', 'node'), 0o755);
  await writeFile(join(stage, 'bin', 'node'), JOB_NODE_SHIM, { mode: 0o755 });
  await chmod(join(stage, 'bin', 'node'), 0o755);
  await writeFile(join(stage, 'agent', 'agent.mjs'), i.agentCode);
  await writeFile(join(stage, 'agent', 'package.json'), '{ "type": "module", "private": true }\n');
  if (i.nodePtyDir) await cp(i.nodePtyDir, join(stage, 'agent', 'node_modules', 'node-pty'), { recursive: true });
  await squashDir(stage, cached, compression, sourceDateEpoch);
  await rm(stage, { recursive: true, force: true });
  return { path: cached, cached: false };
}

/**
 * /opt/picluster/bin/node, what jobs run (PATH, function jobs, `/opt/picluster/bin/node …`): it
 * gets the full ICU data (fetched and mounted on first use, image/rootfs/icu-data) and runs the
 * real binary with NODE_ICU_DATA pointing at it. The agent runs /opt/picluster/libexec/node.
 */
export const JOB_NODE_SHIM = `#!/bin/sh
# node for jobs: full ICU data first (image/rootfs/icu-data), then the real binary
exec /usr/libexec/picluster/icu-data exec /opt/picluster/libexec/node "$@"
`;

/** Beside runtime.squashfs in dist/<arch>/. */
export const ICU_FILE = 'icu.squashfs';

/** The full ICU data file of icuDir in a squashfs of its own (icu.squashfs), cached by content. */
export async function buildIcuLayer(
  icuDir: string,
  fileName: string,
  workDir: string,
  cacheDir: string,
  sourceDateEpoch: number,
  useCache = true,
): Promise<{ path: string; cached: boolean }> {
  const key = sha256([await sha256File(join(icuDir, fileName)), String(sourceDateEpoch), SQUASHFS_COMPRESSION.join(' ')].join('\n')).slice(0, 24);
  const out = useCache ? join(cacheDir, 'icu', `${key}.squashfs`) : join(workDir, `icu-${key}.squashfs`);
  if (useCache && existsSync(out)) return { path: out, cached: true };
  const stage = join(workDir, 'icu');
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });
  await copyFile(join(icuDir, fileName), join(stage, fileName));
  await squashDir(stage, out, SQUASHFS_COMPRESSION, sourceDateEpoch);
  await rm(stage, { recursive: true, force: true });
  return { path: out, cached: false };
}

async function squashDir(stage: string, out: string, compression: readonly string[], sourceDateEpoch: number): Promise<void> {
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  await rm(tmp, { force: true });
  await run(
    'mksquashfs',
    [
      stage,
      tmp,
      '-noappend',
      '-no-progress',
      '-quiet',
      ...compression,
      '-all-root',
      '-no-xattrs',
      '-no-exports',
      '-all-time',
      String(sourceDateEpoch),
      '-mkfs-time',
      String(sourceDateEpoch),
      '-reproducible',
    ],
    // mksquashfs >= 4.6 refuses -all-time while SOURCE_DATE_EPOCH is exported (as Buildroot and
    // `SOURCE_DATE_EPOCH=… build-image` do); the epoch already reaches it as -all-time/-mkfs-time.
    { step: 'mksquashfs', writes: tmp, env: withoutSourceDateEpoch(process.env) },
  );
  await rename(tmp, out);
}

function withoutSourceDateEpoch(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SOURCE_DATE_EPOCH: _epoch, ...rest } = env;
  return rest;
}
