/**
 * Artifacts: after an attempt ends, the files it wrote under `$PICLUSTER_OUT` are collected
 * (regular files only, names as relative paths, sorted; at most `maxFiles` and `maxBytes` in
 * all: the rest is left out and said so in `artifactsNote`), uploaded to the master's
 * `POST /api/artifacts` with the node token, and listed in the attempt's result. The master
 * commits that list with the attempt's end, so artifacts of a stale or duplicate result are
 * never listed. An upload that fails leaves the result's outcome alone and is noted.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileNameProblem, type FileRef } from '../common/protocol.ts';
import type { Logger } from '../common/logger.ts';

export interface ArtifactLimits {
  readonly maxFiles: number;
  readonly maxBytes: number;
}
export const DEFAULT_ARTIFACT_LIMITS: ArtifactLimits = { maxFiles: 100, maxBytes: 64 * 1024 * 1024 };

export interface Found {
  readonly name: string;
  readonly path: string;
  readonly sizeBytes: number;
}

/** Walks `outDir`; → the files within the limits and why others were left out. */
export async function findArtifacts(outDir: string, limits: ArtifactLimits): Promise<{ files: Found[]; notes: string[] }> {
  const all: Found[] = [];
  const notes: string[] = [];
  let skipped = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    for (const e of entries.sort()) {
      const path = join(dir, e);
      const st = await lstat(path);
      if (st.isDirectory()) await walk(path);
      else if (st.isFile()) {
        const name = relative(outDir, path);
        if (fileNameProblem(name)) skipped++;
        else all.push({ name, path, sizeBytes: st.size });
      } else skipped++;
    }
  };
  await walk(outDir);
  if (skipped) notes.push(`${skipped} entries were not regular files with usable names and were left out`);
  all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: Found[] = [];
  let total = 0;
  let leftOut = 0;
  let leftBytes = 0;
  for (const f of all) {
    if (files.length >= limits.maxFiles || total + f.sizeBytes > limits.maxBytes) {
      leftOut++;
      leftBytes += f.sizeBytes;
      continue;
    }
    files.push(f);
    total += f.sizeBytes;
  }
  if (leftOut)
    notes.push(
      `truncated: ${leftOut} files (${leftBytes} bytes) left out, over the artifact limits of ${limits.maxFiles} files / ${limits.maxBytes} bytes per job`,
    );
  return { files, notes };
}

export interface ArtifactUploaderOptions {
  /** `http://host:port/api/` of the master. */
  readonly apiBase: string;
  readonly nodeName: string;
  readonly token: string;
  readonly log: Logger;
  readonly limits?: ArtifactLimits;
  /** fetch verifying a https master (node-agent/tls-options.ts); default: the global fetch. */
  readonly fetch?: typeof fetch;
}

export class ArtifactUploader {
  private readonly limits: ArtifactLimits;

  constructor(private readonly o: ArtifactUploaderOptions) {
    this.limits = o.limits ?? DEFAULT_ARTIFACT_LIMITS;
  }

  /** → what goes into the result (`artifacts`, `artifactsNote`); never throws. */
  async collect(outDir: string): Promise<{ artifacts?: FileRef[]; artifactsNote?: string }> {
    const { files, notes } = await findArtifacts(outDir, this.limits).catch((e: unknown) => ({
      files: [] as Found[],
      notes: [`cannot read $PICLUSTER_OUT: ${(e as Error).message}`],
    }));
    const artifacts: FileRef[] = [];
    for (const f of files) {
      try {
        const bytes = await readFile(f.path);
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        const res = await (this.o.fetch ?? fetch)(`${this.o.apiBase}artifacts`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.o.token}`,
            'x-picluster-node': this.o.nodeName,
            'content-type': 'application/octet-stream',
            'x-picluster-sha256': sha256,
            'x-picluster-name': f.name,
          },
          body: bytes,
        });
        if (!res.ok) throw new Error(`the master answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
        await res.arrayBuffer().catch(() => undefined);
        artifacts.push({ name: f.name, sha256, sizeBytes: bytes.length });
      } catch (e) {
        this.o.log.warn({ err: e, artifact: f.name }, 'artifact upload failed');
        notes.push(`${f.name} not uploaded: ${(e as Error).message}`);
      }
    }
    const note = notes.join('; ').slice(0, 1024);
    return { ...(artifacts.length ? { artifacts } : {}), ...(note ? { artifactsNote: note } : {}) };
  }
}
