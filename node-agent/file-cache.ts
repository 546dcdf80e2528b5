/**
 * Input files of jobs: fetched from the master over HTTP with the node's token
 * (`GET /api/files/<sha256>/content`, `x-picluster-node`), verified against their SHA-256 and
 * size, kept in a cache by hash bounded in bytes (least recently used evicted first: on a
 * netbooted node this is RAM), and copied into each attempt's scratch dir under their names.
 * A file larger than the whole cache is fetched straight into the scratch dir.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Logger } from '../common/logger.ts';
import { fileNameProblem, type FileRef } from '../common/protocol.ts';

export interface FileCacheOptions {
  /** The cache's own directory (emptied at start). */
  readonly dir: string;
  readonly capBytes: number;
  /** `ws://host:port/agent` → files come from `http://host:port/api/files/…`. */
  readonly dispatcherUrl: string;
  readonly nodeName: string;
  readonly token: string;
  readonly log: Logger;
  /** fetch verifying a https master (node-agent/tls-options.ts); default: the global fetch. */
  readonly fetch?: typeof fetch;
}

/** `failed`: the master served other bytes than the job named (not retried by default); `rejected`: could not fetch (retried). */
export type Materialised = { ok: true } | { ok: false; outcome: 'failed' | 'rejected'; error: string };

/** What the runner asks of the cache. */
export interface InputFiles {
  materialise(files: readonly FileRef[], scratch: string): Promise<Materialised>;
}

class FetchError extends Error {
  constructor(
    message: string,
    readonly mismatch: boolean,
  ) {
    super(message);
  }
}

/** `ws://host:port/agent` → `http://host:port/api/` (`wss:` → `https:`). */
export function apiBaseUrl(dispatcherUrl: string): string {
  const u = new URL(dispatcherUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '/api/';
  u.search = '';
  return u.toString();
}

export const filesBaseUrl = (dispatcherUrl: string): string => `${apiBaseUrl(dispatcherUrl)}files/`;

export class FileCache {
  /** sha256 → size, in least-recently-used order (Map keeps insertion order). */
  private readonly entries = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly pinned = new Map<string, number>();
  private total = 0;
  private ready: Promise<void>;
  private readonly base: string;

  constructor(private readonly o: FileCacheOptions) {
    this.base = filesBaseUrl(o.dispatcherUrl);
    // Emptied now, made on first use (an agent whose jobs take no files leaves no trace in its work dir).
    this.ready = rm(o.dir, { recursive: true, force: true });
  }

  /** Bytes held now (tests, logs). */
  sizeBytes(): number {
    return this.total;
  }

  has(sha256: string): boolean {
    return this.entries.has(sha256);
  }

  /** Fetches (or takes from the cache) every file into `scratch`. Never throws. */
  async materialise(files: readonly FileRef[], scratch: string): Promise<Materialised> {
    await this.ready;
    if (files.length) await mkdir(join(this.o.dir, 'tmp'), { recursive: true }).catch(() => undefined); // a failure shows in the fetch below
    for (const f of files) {
      const problem = fileNameProblem(f.name);
      const target = resolve(scratch, f.name);
      if (problem || !target.startsWith(resolve(scratch) + sep))
        return { ok: false, outcome: 'rejected', error: `input file: ${problem ?? `${f.name} leaves the job's directory`}` };
      try {
        await mkdir(dirname(target), { recursive: true });
        if (f.sizeBytes > this.o.capBytes) {
          await this.fetchTo(f, target);
          continue;
        }
        this.pin(f.sha256, 1);
        try {
          await this.ensure(f);
          await copyFile(this.pathOf(f.sha256), target);
        } finally {
          this.pin(f.sha256, -1);
        }
      } catch (e) {
        const mismatch = e instanceof FetchError && e.mismatch;
        return { ok: false, outcome: mismatch ? 'failed' : 'rejected', error: `input file ${f.name}: ${(e as Error).message}` };
      }
    }
    return { ok: true };
  }

  private pathOf(sha256: string): string {
    return join(this.o.dir, sha256);
  }

  private pin(sha256: string, d: number): void {
    const n = (this.pinned.get(sha256) ?? 0) + d;
    if (n > 0) this.pinned.set(sha256, n);
    else this.pinned.delete(sha256);
  }

  private async ensure(f: FileRef): Promise<void> {
    const size = this.entries.get(f.sha256);
    if (size !== undefined) {
      this.entries.delete(f.sha256);
      this.entries.set(f.sha256, size);
      return;
    }
    let p = this.inFlight.get(f.sha256);
    if (!p) {
      p = (async () => {
        const tmp = join(this.o.dir, 'tmp', `${f.sha256}-${randomBytes(4).toString('hex')}`);
        try {
          await this.fetchTo(f, tmp);
          await rename(tmp, this.pathOf(f.sha256));
        } catch (e) {
          await rm(tmp, { force: true });
          throw e;
        }
        this.entries.set(f.sha256, f.sizeBytes);
        this.total += f.sizeBytes;
        await this.evict();
      })().finally(() => this.inFlight.delete(f.sha256));
      this.inFlight.set(f.sha256, p);
    }
    await p;
  }

  private async evict(): Promise<void> {
    for (const [sha, size] of this.entries) {
      if (this.total <= this.o.capBytes) return;
      if (this.pinned.has(sha)) continue;
      this.entries.delete(sha);
      this.total -= size;
      await rm(this.pathOf(sha), { force: true });
      this.o.log.debug({ sha256: sha, sizeBytes: size, cacheBytes: this.total }, 'input file evicted from the cache');
    }
  }

  /** Streams the file to `path`, hashing it; a wrong hash or size is a FetchError(mismatch). */
  private async fetchTo(f: FileRef, path: string): Promise<void> {
    let res: Response;
    try {
      res = await (this.o.fetch ?? fetch)(this.base + f.sha256 + '/content', {
        headers: { authorization: `Bearer ${this.o.token}`, 'x-picluster-node': this.o.nodeName },
      });
    } catch (e) {
      throw new FetchError(`cannot reach the master: ${(e as Error).message}`, false);
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      let message = text.slice(0, 300);
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {
        /* not JSON */
      }
      throw new FetchError(`the master answered ${res.status}: ${message}`, false);
    }
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > f.sizeBytes) return cb(new FetchError(`the master sent more than the job's ${f.sizeBytes} bytes`, true));
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(res.body as WebReadableStream), counter, createWriteStream(path, { mode: 0o600 }));
    const got = hash.digest('hex');
    if (got !== f.sha256 || size !== f.sizeBytes)
      throw new FetchError(`hash mismatch: the job names sha256 ${f.sha256} (${f.sizeBytes} bytes), the fetched bytes hash to ${got} (${size} bytes)`, true);
  }
}
