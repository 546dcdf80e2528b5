/**
 * Content-addressed blobs on disk: `<root>/<first two hex>/<sha256>`. A blob is written to a temp
 * file in `<root>/tmp`, hashed while it streams, fsynced, and renamed into place only when its
 * hash is the one claimed, so a reader never sees a partial or wrong blob and the same content is
 * stored once. Used for input files (`/api/files`) and job artifacts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, rmSync, statSync, type ReadStream } from 'node:fs';
import { open, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FileHashMismatchError, FileNotFoundError, FileTooLargeError } from './errors.ts';

export const SHA256_HEX = '^[0-9a-f]{64}$';
const SHA = new RegExp(SHA256_HEX);
export const isSha256 = (s: string): boolean => SHA.test(s);

export interface BlobInfo {
  readonly sha256: string;
  readonly sizeBytes: number;
}

export interface BlobStoreOptions {
  /** Refuses a new upload while the data dir is below its free-space reserve (the master's DiskWatch: 507 STORAGE_FULL). */
  readonly storage?: { assertWritable(): void };
}

export class BlobStore {
  private readonly tmp: string;

  constructor(
    readonly root: string,
    private readonly opts: BlobStoreOptions = {},
  ) {
    this.tmp = join(root, 'tmp');
    mkdirSync(this.tmp, { recursive: true });
    // Uploads cut off by a crash or power loss left partial temp files; none is in progress at start-up.
    for (const name of readdirSync(this.tmp)) rmSync(join(this.tmp, name), { force: true, recursive: true });
  }

  private pathOf(sha256: string): string {
    return join(this.root, sha256.slice(0, 2), sha256);
  }

  /** → the blob's size, or undefined when it is not stored (or the id is not a sha256). */
  stat(sha256: string): BlobInfo | undefined {
    if (!isSha256(sha256)) return undefined;
    try {
      const s = statSync(this.pathOf(sha256));
      return s.isFile() ? { sha256, sizeBytes: s.size } : undefined;
    } catch {
      return undefined;
    }
  }

  has(sha256: string): boolean {
    return this.stat(sha256) !== undefined;
  }

  /** A read stream of a stored blob; FileNotFoundError when it is not there. */
  open(sha256: string): { info: BlobInfo; stream: ReadStream } {
    const info = this.stat(sha256);
    if (!info) throw new FileNotFoundError(`no file with sha256 ${sha256} on the master`);
    return { info, stream: createReadStream(this.pathOf(sha256)) };
  }

  /**
   * Stores `body` if its SHA-256 is `expected` (when given) and it has at most `maxBytes`.
   * → the blob and whether it was new. The body is consumed (or destroyed) either way.
   */
  async put(body: Readable, opts: { expected?: string; maxBytes: number; what?: string; limitName?: string }): Promise<BlobInfo & { created: boolean }> {
    const what = opts.what ?? 'the upload';
    this.opts.storage?.assertWritable();
    const tmpPath = join(this.tmp, `${Date.now()}-${randomBytes(6).toString('hex')}`);
    const fh = await open(tmpPath, 'wx', 0o600);
    const hash = createHash('sha256');
    let size = 0;
    let ok = false;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > opts.maxBytes) {
          body.destroy();
          throw new FileTooLargeError(`${what} is larger than the limit of ${opts.maxBytes} bytes (${opts.limitName ?? 'files.maxUploadBytes'})`);
        }
        hash.update(chunk);
        // One write(2) may take only part of a chunk (a disk filling up): write the rest, or fail.
        for (let done = 0; done < chunk.length;) {
          const { bytesWritten } = await fh.write(chunk, done, chunk.length - done);
          if (bytesWritten <= 0) throw new Error(`${what} could not be written to disk (no bytes written)`);
          done += bytesWritten;
        }
      }
      const sha256 = hash.digest('hex');
      if (opts.expected !== undefined && sha256 !== opts.expected) {
        throw new FileHashMismatchError(`${what} does not match its x-picluster-sha256 header: the header says ${opts.expected}, the bytes hash to ${sha256}`);
      }
      await fh.sync();
      const written = (await fh.stat()).size;
      if (written !== size) throw new Error(`${what} was stored short (${written} of ${size} bytes): the disk may be full`);
      await fh.close();
      const final = this.pathOf(sha256);
      if (this.has(sha256)) {
        await unlink(tmpPath);
        ok = true;
        return { sha256, sizeBytes: size, created: false };
      }
      mkdirSync(join(this.root, sha256.slice(0, 2)), { recursive: true });
      await rename(tmpPath, final);
      ok = true;
      return { sha256, sizeBytes: size, created: true };
    } finally {
      if (!ok) {
        await fh.close().catch(() => undefined);
        await rm(tmpPath, { force: true });
      }
    }
  }

  /** Removes a blob (no-op when absent). */
  async remove(sha256: string): Promise<void> {
    if (isSha256(sha256)) await rm(this.pathOf(sha256), { force: true });
  }
}
