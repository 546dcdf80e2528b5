/**
 * Bundles the node agent into one ESM file with esbuild. node-pty is external (its native
 * part is cross-built and shipped beside the bundle in node_modules/); ws's optional
 * native helpers are external too (ws falls back to JS when they are absent).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildStepError } from './errors.ts';
import { sha256 } from './hash.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The real agent's entry (written by the agent's own module). */
export const AGENT_ENTRY = join(REPO_ROOT, 'node-agent', 'main.ts');
/** Stand-in used only while node-agent/main.ts does not exist yet. */
export const PLACEHOLDER_ENTRY = join(REPO_ROOT, 'image', 'agent-placeholder', 'main.ts');

export interface AgentBundle {
  readonly code: Buffer;
  readonly entry: string;
  readonly placeholder: boolean;
  /** sha256 of every bundled source file (repo-relative path → hash), for the manifest. */
  readonly sourcesSha256: string;
  readonly esbuildVersion: string;
}

export function defaultAgentEntry(): { entry: string; placeholder: boolean } {
  return existsSync(AGENT_ENTRY) ? { entry: AGENT_ENTRY, placeholder: false } : { entry: PLACEHOLDER_ENTRY, placeholder: true };
}

export async function bundleAgent(entry: string, target: string): Promise<AgentBundle> {
  const esbuild = await import('esbuild');
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target,
      write: false,
      outfile: 'agent.mjs',
      external: ['node-pty', 'bufferutil', 'utf-8-validate', 'better-sqlite3'],
      // CJS dependencies bundled into ESM still call require() for node builtins.
      banner: { js: "import { createRequire as __piclusterCreateRequire } from 'node:module';\nconst require = __piclusterCreateRequire(import.meta.url);" },
      legalComments: 'none',
      // The source stays in the agent's heap for lazy compilation: whitespace and syntax minified
      // it is ~0.8 MiB less idle RAM (bench/node-idle-ram.ts). Identifiers are kept, so stack
      // traces still name every function (their columns point into long lines).
      minifyWhitespace: true,
      minifySyntax: true,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: REPO_ROOT,
      define: { 'process.env.PICLUSTER_BUNDLED': '"1"' },
    });
  } catch (e) {
    throw new BuildStepError('bundle agent', (e as Error).message, { cause: e });
  }
  const out = result.outputFiles[0];
  if (!out) throw new BuildStepError('bundle agent', 'esbuild wrote nothing');
  const inputs = Object.keys(result.metafile.inputs).sort();
  const lines: string[] = [];
  for (const input of inputs) {
    const abs = join(REPO_ROOT, input);
    const data = existsSync(abs) ? await readFile(abs) : Buffer.from(input);
    lines.push(`${sha256(data)}  ${relative(REPO_ROOT, abs)}`);
  }
  return {
    code: Buffer.from(out.contents),
    entry: relative(REPO_ROOT, entry),
    placeholder: entry === PLACEHOLDER_ENTRY,
    sourcesSha256: sha256(lines.join('\n')),
    esbuildVersion: esbuild.version,
  };
}
