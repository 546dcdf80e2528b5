import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpioError, decodeCpio, encodeCpio, normalizeEntries, type CpioEntry } from './cpio.ts';

const MTIME = 1_700_000_000; // 0x6553f100
const fixture = (name: string): Buffer =>
  Buffer.from(
    readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')
      .replace(/#.*$/gm, '')
      .replace(/\s+/g, ''),
    'hex',
  );

const sample: CpioEntry[] = [
  { type: 'file', path: 'init', mode: 0o755, data: Buffer.from('#!/bin/sh\n') },
  { type: 'symlink', path: 'bin/sh', target: 'busybox' },
  { type: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
];

describe('encodeCpio (newc)', () => {
  it('matches the golden archive byte for byte', () => {
    // The fixture was written field by field from the format description
    // (buffer-format.rst), independent of the encoder.
    expect(encodeCpio(sample, { mtime: MTIME }).toString('hex')).toBe(fixture('sample.newc.hex').toString('hex'));
  });

  it('adds parents, sorts parents before children and numbers inodes in order', () => {
    const members = decodeCpio(encodeCpio(sample, { mtime: MTIME }));
    expect(members.map((m) => [m.path, m.type, m.ino])).toEqual([
      ['bin', 'dir', 1],
      ['bin/sh', 'symlink', 2],
      ['dev', 'dir', 3],
      ['dev/console', 'chardev', 4],
      ['init', 'file', 5],
    ]);
    expect(members.every((m) => m.mtime === MTIME && m.uid === 0 && m.gid === 0)).toBe(true);
  });

  it('sorts by path component, not by raw string ("a/b" before "a-b")', () => {
    const paths = normalizeEntries([
      { type: 'file', path: 'a-b', data: Buffer.alloc(0) },
      { type: 'file', path: 'a/b', data: Buffer.alloc(0) },
    ]).map((e) => e.path);
    expect(paths).toEqual(['a', 'a/b', 'a-b']);
  });

  it('is deterministic regardless of input order', () => {
    const a = encodeCpio(sample, { mtime: MTIME });
    const b = encodeCpio([...sample].reverse(), { mtime: MTIME });
    expect(b.equals(a)).toBe(true);
  });

  it('pads names and data to 4 bytes for every length', () => {
    for (let n = 0; n < 9; n++) {
      const entries: CpioEntry[] = [{ type: 'file', path: 'x'.repeat(n + 1), data: Buffer.alloc(n, 0x61) }];
      const buf = encodeCpio(entries, { mtime: 0 });
      expect(buf.length % 4).toBe(0);
      const [m] = decodeCpio(buf);
      expect(m?.data.length).toBe(n);
    }
  });

  it.each([
    ['absolute-ish parent escape', '../etc/passwd'],
    ['empty component', 'a//b'],
    ['empty path', ''],
    ['reserved trailer name', 'TRAILER!!!'],
  ])('rejects a bad path: %s', (_why, path) => {
    expect(() => encodeCpio([{ type: 'dir', path }], { mtime: 0 })).toThrow(CpioError);
  });

  it('rejects duplicates and a file used as a directory', () => {
    expect(() =>
      encodeCpio(
        [
          { type: 'file', path: 'a', data: Buffer.alloc(0) },
          { type: 'file', path: 'a', data: Buffer.alloc(1) },
        ],
        { mtime: 0 },
      ),
    ).toThrow(/duplicate/);
    expect(() =>
      encodeCpio(
        [
          { type: 'file', path: 'a', data: Buffer.alloc(0) },
          { type: 'file', path: 'a/b', data: Buffer.alloc(0) },
        ],
        { mtime: 0 },
      ),
    ).toThrow(/not a directory/);
  });

  const busybox = spawnSync('busybox', ['cpio', '--help'], { encoding: 'utf8' });
  const haveBusyboxCpio = !busybox.error && /cpio/i.test(`${busybox.stdout}${busybox.stderr}`);
  it.skipIf(!haveBusyboxCpio)('is read by an independent cpio implementation (busybox cpio -i)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpio-'));
    try {
      const entries: CpioEntry[] = [
        { type: 'file', path: 'init', mode: 0o755, data: Buffer.from('#!/bin/sh\n') },
        { type: 'symlink', path: 'bin/sh', target: 'busybox' },
        { type: 'file', path: 'etc/deep/odd name.txt', mode: 0o600, data: Buffer.from('x'.repeat(1001)) },
      ];
      execFileSync('busybox', ['cpio', '-i', '-d'], { cwd: dir, input: encodeCpio(entries, { mtime: MTIME }), stdio: ['pipe', 'ignore', 'ignore'] });
      expect(readFileSync(join(dir, 'init'), 'utf8')).toBe('#!/bin/sh\n');
      expect(statSync(join(dir, 'init')).mode & 0o777).toBe(0o755);
      expect(readlinkSync(join(dir, 'bin/sh'))).toBe('busybox');
      expect(readFileSync(join(dir, 'etc/deep/odd name.txt'), 'utf8')).toHaveLength(1001);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('decodeCpio', () => {
  it('round-trips what encodeCpio wrote', () => {
    const members = decodeCpio(encodeCpio(sample, { mtime: MTIME }));
    const init = members.find((m) => m.path === 'init');
    expect(init?.data.toString()).toBe('#!/bin/sh\n');
    expect((init?.mode ?? 0) & 0o7777).toBe(0o755);
    expect(members.find((m) => m.path === 'dev/console')).toMatchObject({ rdevMajor: 5, rdevMinor: 1 });
    expect(members.find((m) => m.path === 'bin/sh')?.data.toString()).toBe('busybox');
  });

  it('rejects bad magic and truncation', () => {
    const good = encodeCpio(sample, { mtime: MTIME });
    const bad = Buffer.from(good);
    bad.write('070707', 0, 'ascii');
    expect(() => decodeCpio(bad)).toThrow(/bad magic/);
    expect(() => decodeCpio(good.subarray(0, 200))).toThrow(CpioError);
  });
});
