/**
 * BlobStore failure paths (review of issue 14 item 4): uploads refused while the disk is below its
 * reserve, partial temp files from a crash swept at start-up, nothing half-written left behind.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageFullError } from '../errors.ts';
import { BlobStore } from './blob-store.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-blobs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('BlobStore', () => {
  it('refuses a new upload with STORAGE_FULL while the storage guard says the disk is low, and writes nothing', async () => {
    let low = true;
    const blobs = new BlobStore(join(dir, 'b'), {
      storage: {
        assertWritable: () => {
          if (low) throw new StorageFullError('the data dir is below its free-space reserve');
        },
      },
    });
    const body = Buffer.from('hello');
    await expect(blobs.put(Readable.from([body]), { expected: sha(body), maxBytes: 1024 })).rejects.toMatchObject({ code: 'STORAGE_FULL' });
    expect(readdirSync(join(dir, 'b', 'tmp'))).toEqual([]);
    low = false;
    await expect(blobs.put(Readable.from([body]), { expected: sha(body), maxBytes: 1024 })).resolves.toMatchObject({
      sha256: sha(body),
      sizeBytes: 5,
      created: true,
    });
  });

  it('stores every byte of a body that arrives in many chunks', async () => {
    const blobs = new BlobStore(join(dir, 'b'));
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(4096 + i, i));
    const all = Buffer.concat(chunks);
    const info = await blobs.put(Readable.from(chunks), { expected: sha(all), maxBytes: all.length });
    expect(info.sizeBytes).toBe(all.length);
    expect(blobs.stat(info.sha256)?.sizeBytes).toBe(all.length);
  });

  it('sweeps partial temp files a crash left behind when it opens the store; stored blobs stay', async () => {
    const root = join(dir, 'b');
    const first = new BlobStore(root);
    const body = Buffer.from('kept');
    const kept = await first.put(Readable.from([body]), { expected: sha(body), maxBytes: 1024 });
    mkdirSync(join(root, 'tmp'), { recursive: true });
    writeFileSync(join(root, 'tmp', '1700000000000-deadbeef'), Buffer.alloc(1000));
    new BlobStore(root);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(existsSync(join(root, kept.sha256.slice(0, 2), kept.sha256))).toBe(true);
  });
});
