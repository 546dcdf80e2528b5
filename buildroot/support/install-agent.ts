/**
 * Build step of package/picluster-agent: a tree to copy over the target with build-image's
 * first-stage files (image/rootfs, placed as image/build/initramfs.ts's ROOTFS_LAYOUT says)
 * and the agent bundled by image/build/agent-bundle.ts, with the same esbuild target as
 * build-image. The agent goes to /opt/picluster/agent, from where post-build moves it into
 * the runtime squashfs.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { bundleAgent, defaultAgentEntry } from '../../image/build/agent-bundle.ts';
import { ROOTFS_DIR } from '../../image/build/build.ts';
import { BuildStepError } from '../../image/build/errors.ts';
import { readRootfs, ROOTFS_LAYOUT } from '../../image/build/initramfs.ts';
import { TARGET_AGENT_DIR } from './post-build.ts';

export async function installAgentTree(outDir: string): Promise<{ files: number; placeholder: boolean }> {
  await rm(outDir, { recursive: true, force: true });
  const rootfs = await readRootfs(ROOTFS_DIR);
  const put = async (rel: string, data: Uint8Array | string, mode: number): Promise<void> => {
    const p = join(outDir, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, data);
    await chmod(p, mode);
  };
  for (const { file, path, mode } of ROOTFS_LAYOUT) await put(path, rootfs.get(file) as Uint8Array, mode);
  const { entry } = defaultAgentEntry();
  // Buildroot's own Node (22.x in 2025.02), not the image's pinned npm one (24.x)
  const agent = await bundleAgent(entry, 'node22');
  await put(`${TARGET_AGENT_DIR}/agent.mjs`, agent.code, 0o644);
  await put(
    `${TARGET_AGENT_DIR}/bundle.json`,
    JSON.stringify({ entry: agent.entry, placeholder: agent.placeholder, esbuildVersion: agent.esbuildVersion }) + '\n',
    0o644,
  );
  return { files: ROOTFS_LAYOUT.length + 2, placeholder: agent.placeholder };
}

export async function main(argv: readonly string[]): Promise<number> {
  const i = argv.indexOf('--out');
  const out = i >= 0 ? argv[i + 1] : undefined;
  if (!out) throw new BuildStepError('arguments', 'install-agent --out <dir>');
  const r = await installAgentTree(out);
  process.stderr.write(`picluster-agent: ${r.files} files in ${out}${r.placeholder ? ' (PLACEHOLDER agent: node-agent/main.ts is missing)' : ''}\n`);
  return 0;
}
