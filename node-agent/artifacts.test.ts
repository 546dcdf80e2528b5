import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findArtifacts } from './artifacts.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-out-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('findArtifacts', () => {
  it('lists regular files by relative name, sorted, and leaves out symlinks with a note', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'b.txt'), 'bb');
    writeFileSync(join(dir, 'sub', 'a.txt'), 'a');
    symlinkSync('/etc/passwd', join(dir, 'link'));
    const { files, notes } = await findArtifacts(dir, { maxFiles: 10, maxBytes: 100 });
    expect(files.map((f) => [f.name, f.sizeBytes])).toEqual([
      ['b.txt', 2],
      ['sub/a.txt', 1],
    ]);
    expect(notes).toEqual(['1 entries were not regular files with usable names and were left out']);
  });

  it('stops at the count and byte bounds and says what was left out', async () => {
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}`), 'x'.repeat(10));
    expect((await findArtifacts(dir, { maxFiles: 3, maxBytes: 1000 })).files).toHaveLength(3);
    const bytes = await findArtifacts(dir, { maxFiles: 100, maxBytes: 25 });
    expect(bytes.files.map((f) => f.name)).toEqual(['f0', 'f1']);
    expect(bytes.notes[0]).toBe('truncated: 3 files (30 bytes) left out, over the artifact limits of 100 files / 25 bytes per job');
  });

  it('is empty for a missing directory', async () => {
    expect(await findArtifacts(join(dir, 'none'), { maxFiles: 1, maxBytes: 1 })).toEqual({ files: [], notes: [] });
  });
});
