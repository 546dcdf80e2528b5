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
import { run } from './proc.ts';

export interface RuntimeInputs {
  readonly nodeBinary: string;
  readonly agentCode: Uint8Array;
  /** Directory laid out like node_modules/node-pty, or undefined to ship without a pty. */
  readonly nodePtyDir: string | undefined;
}

/**
 * xz with 256 KiB blocks: the squashfs stays in /run (tmpfs), so every byte of it is a byte of
 * the node's idle RAM. With Node 24's 98.6 MiB arm64 binary zstd-15 made 36.4 MB (over the Pi 3
 * `runtime8` TFTP limit), xz -b 256K 30.4 MB; a page fault decompresses at most one 256 KiB block.
 */
export const SQUASHFS_COMPRESSION = ['-comp', 'xz', '-b', '256K'];

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
  const key = sha256(
    [
      await sha256File(i.nodeBinary),
      sha256(i.agentCode),
      i.nodePtyDir ? await sha256File(join(i.nodePtyDir, 'build', 'Release', 'pty.node')) : 'no-pty',
      String(sourceDateEpoch),
      SQUASHFS_COMPRESSION.join(' '),
    ].join('\n'),
  ).slice(0, 24);
  // useCache=false builds into the work dir (the reproducibility test compares it to the cached one)
  const cached = useCache ? join(cacheDir, 'runtime', `${key}.squashfs`) : join(workDir, `runtime-${key}.squashfs`);
  if (useCache && existsSync(cached)) return { path: cached, cached: true };

  const stage = join(workDir, 'runtime');
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, 'bin'), { recursive: true });
  await mkdir(join(stage, 'agent'), { recursive: true });
  await copyFile(i.nodeBinary, join(stage, 'bin', 'node'));
  await chmod(join(stage, 'bin', 'node'), 0o755);
  await writeFile(join(stage, 'agent', 'agent.mjs'), i.agentCode);
  await writeFile(join(stage, 'agent', 'package.json'), '{ "type": "module", "private": true }\n');
  if (i.nodePtyDir) await cp(i.nodePtyDir, join(stage, 'agent', 'node_modules', 'node-pty'), { recursive: true });

  await mkdir(dirname(cached), { recursive: true });
  const tmp = `${cached}.tmp`;
  await rm(tmp, { force: true });
  await run(
    'mksquashfs',
    [
      stage,
      tmp,
      '-noappend',
      '-no-progress',
      '-quiet',
      ...SQUASHFS_COMPRESSION,
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
  await rename(tmp, cached);
  await rm(stage, { recursive: true, force: true });
  return { path: cached, cached: false };
}

function withoutSourceDateEpoch(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SOURCE_DATE_EPOCH: _epoch, ...rest } = env;
  return rest;
}
