/**
 * Artifacts: after an attempt ends, the files it wrote under `$PICLUSTER_OUT` are collected
 * (regular files only, names as relative paths, sorted; at most `maxFiles` and `maxBytes` in
 * all: the rest is left out and said so in `artifactsNote`), uploaded to the master's
 * `POST /api/artifacts` with the node token, and listed in the attempt's result. The master
 * commits that list with the attempt's end, so artifacts of a stale or duplicate result are
 * never listed. An upload the master could not take (no answer: it is restarting; 408, 429, 502–504)
 * is tried again 1, 2, 4, 8, 8 … s apart for up to `retryForMs` (default 180 s), so a job that
 * ends while the master restarts keeps its files; one that still fails, or that the master
 * refuses (other 4xx: too large, a bad name), leaves the result's outcome alone and is noted.
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
  /** How long one file's upload is tried again while the master cannot take it; default 180 s. */
  readonly retryForMs?: number;
  /** The pause between tries, and the clock that bounds them (tests). */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** The master's answer means "not now" (try again), not "never". */
const RETRIED_STATUS = new Set([408, 429, 502, 503, 504]);

class Refused extends Error {}

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
        await this.upload(f.name, sha256, bytes);
        artifacts.push({ name: f.name, sha256, sizeBytes: bytes.length });
      } catch (e) {
        this.o.log.warn({ err: e, artifact: f.name }, 'artifact upload failed');
        notes.push(`${f.name} not uploaded: ${(e as Error).message}`);
      }
    }
    const note = notes.join('; ').slice(0, 1024);
    return { ...(artifacts.length ? { artifacts } : {}), ...(note ? { artifactsNote: note } : {}) };
  }

  /** One file, tried again while the master cannot take it (bounded by retryForMs); throws why it was not taken. */
  private async upload(name: string, sha256: string, bytes: NonSharedBuffer): Promise<void> {
    const now = this.o.now ?? Date.now;
    const sleep = this.o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const until = now() + (this.o.retryForMs ?? 180_000);
    for (let attempt = 0; ; attempt++) {
      let why: string;
      try {
        const res = await (this.o.fetch ?? fetch)(`${this.o.apiBase}artifacts`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.o.token}`,
            'x-picluster-node': this.o.nodeName,
            'content-type': 'application/octet-stream',
            'x-picluster-sha256': sha256,
            'x-picluster-name': name,
          },
          body: bytes,
        });
        if (res.ok) {
          await res.arrayBuffer().catch(() => undefined);
          return;
        }
        why = `the master answered ${res.status}: ${(await res.text().catch(() => '')).slice(0, 200)}`;
        if (!RETRIED_STATUS.has(res.status)) throw new Refused(why);
      } catch (e) {
        if (e instanceof Refused) throw e;
        why = e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}` : String(e);
      }
      const pause = Math.min(8000, 1000 * 2 ** attempt);
      if (now() + pause > until) throw new Error(`${why}; gave up after ${attempt + 1} tries`);
      this.o.log.warn({ artifact: name, attempt: attempt + 1, err: why, retryInMs: pause }, 'artifact upload failed; trying again');
      await sleep(pause);
    }
  }
}
