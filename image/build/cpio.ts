/**
 * A pure writer (and reader, for tests and checks) of the cpio "newc" format, the only
 * format the kernel's initramfs unpacker reads (Documentation/driver-api/early-userspace/
 * buffer-format.rst). No I/O, no clock: the same entries and options give the same bytes.
 *
 * Layout of one member: a 110-byte ASCII header — magic `070701`, then 13 fields of 8 hex
 * digits (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
 * rdevminor, namesize, check) — then the NUL-terminated name (namesize counts the NUL),
 * padded so header+name is a multiple of 4, then the data, padded to 4. The file type lives
 * in the mode's S_IFMT bits; a symlink's target is its data; the archive ends with a member
 * named `TRAILER!!!`.
 *
 * Reproducibility: entries are sorted by path component (so parents precede children),
 * missing parent directories are added, inodes are numbered 1..n in that order, and owner,
 * group and mtime are fixed by the caller (SOURCE_DATE_EPOCH).
 */

export type CpioEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly type: 'file'; readonly path: string; readonly mode?: number; readonly data: Uint8Array }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string }
  | { readonly type: 'chardev'; readonly path: string; readonly mode?: number; readonly major: number; readonly minor: number };

export interface CpioOptions {
  /** Seconds since the epoch stamped on every member (SOURCE_DATE_EPOCH). */
  readonly mtime: number;
  /** Owner of every member; 0 (root) unless told. */
  readonly uid?: number;
  readonly gid?: number;
}

export class CpioError extends Error {
  readonly code = 'CPIO_INVALID';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cpio: ${path}: ${reason}`);
    this.name = 'CpioError';
  }
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFMT = 0o170000;
const TRAILER = 'TRAILER!!!';
const MAGIC = '070701';
const HEADER_BYTES = 110;

/** `a/b/c` with no leading `/` or `./`, no empty, `.` or `..` components. */
export function normalizePath(path: string): string {
  const trimmed = path.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const parts = trimmed.split('/');
  if (trimmed === '' || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new CpioError(path, 'path must be relative, non-empty, without empty, . or .. components');
  }
  if (trimmed === TRAILER) throw new CpioError(path, 'reserved name');
  return parts.join('/');
}

function comparePaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x !== y) return Buffer.compare(Buffer.from(x), Buffer.from(y));
  }
  return pa.length - pb.length;
}

/**
 * Validates, de-duplicates and sorts entries, adding any missing parent directories
 * (mode 0755). Two entries for one path are an error unless both are identical directories.
 */
export function normalizeEntries(entries: readonly CpioEntry[]): CpioEntry[] {
  const byPath = new Map<string, CpioEntry>();
  for (const entry of entries) {
    const path = normalizePath(entry.path);
    const normalized = { ...entry, path } as CpioEntry;
    const existing = byPath.get(path);
    if (existing) {
      if (existing.type === 'dir' && normalized.type === 'dir' && (existing.mode ?? 0o755) === (normalized.mode ?? 0o755)) continue;
      throw new CpioError(path, 'duplicate entry');
    }
    byPath.set(path, normalized);
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = byPath.get(parent);
      if (!existing) byPath.set(parent, { type: 'dir', path: parent, mode: 0o755 });
      else if (existing.type !== 'dir') throw new CpioError(path, `parent ${parent} is not a directory`);
    }
  }
  return [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path));
}

function hex8(n: number, field: string, path: string): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CpioError(path, `${field} out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

interface Member {
  readonly name: string;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly data: Uint8Array;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
}

function memberBytes(m: Member, opts: CpioOptions): Buffer[] {
  const name = Buffer.from(m.name + '\0', 'utf8');
  const fields = [
    hex8(m.ino, 'ino', m.name),
    hex8(m.mode, 'mode', m.name),
    hex8(opts.uid ?? 0, 'uid', m.name),
    hex8(opts.gid ?? 0, 'gid', m.name),
    hex8(m.nlink, 'nlink', m.name),
    hex8(m.name === TRAILER ? 0 : opts.mtime, 'mtime', m.name),
    hex8(m.data.length, 'filesize', m.name),
    hex8(0, 'devmajor', m.name),
    hex8(0, 'devminor', m.name),
    hex8(m.rdevMajor, 'rdevmajor', m.name),
    hex8(m.rdevMinor, 'rdevminor', m.name),
    hex8(name.length, 'namesize', m.name),
    hex8(0, 'check', m.name),
  ];
  const header = Buffer.from(MAGIC + fields.join(''), 'ascii');
  const parts: Buffer[] = [header, name, Buffer.alloc(pad4(HEADER_BYTES + name.length))];
  if (m.data.length > 0) parts.push(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length), Buffer.alloc(pad4(m.data.length)));
  return parts;
}

function toMember(entry: CpioEntry, ino: number): Member {
  const perm = (mode: number | undefined, fallback: number): number => (mode ?? fallback) & 0o7777;
  switch (entry.type) {
    case 'dir':
      return { name: entry.path, ino, mode: S_IFDIR | perm(entry.mode, 0o755), nlink: 2, data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0 };
    case 'file':
      return { name: entry.path, ino, mode: S_IFREG | perm(entry.mode, 0o644), nlink: 1, data: entry.data, rdevMajor: 0, rdevMinor: 0 };
    case 'symlink':
      if (entry.target === '') throw new CpioError(entry.path, 'empty symlink target');
      return { name: entry.path, ino, mode: S_IFLNK | 0o777, nlink: 1, data: Buffer.from(entry.target, 'utf8'), rdevMajor: 0, rdevMinor: 0 };
    case 'chardev':
      return {
        name: entry.path,
        ino,
        mode: S_IFCHR | perm(entry.mode, 0o600),
        nlink: 1,
        data: new Uint8Array(0),
        rdevMajor: entry.major,
        rdevMinor: entry.minor,
      };
  }
}

/** Encodes entries (normalized first) into one newc archive ending in `TRAILER!!!`. */
export function encodeCpio(entries: readonly CpioEntry[], opts: CpioOptions): Buffer {
  const sorted = normalizeEntries(entries);
  const parts: Buffer[] = [];
  sorted.forEach((entry, i) => parts.push(...memberBytes(toMember(entry, i + 1), opts)));
  parts.push(...memberBytes({ name: TRAILER, ino: 0, mode: 0, nlink: 1, data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0 }, opts));
  return Buffer.concat(parts);
}

/** One member as read back by `decodeCpio`. */
export interface DecodedMember {
  readonly path: string;
  readonly type: 'dir' | 'file' | 'symlink' | 'chardev' | 'other';
  readonly ino: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly mtime: number;
  readonly rdevMajor: number;
  readonly rdevMinor: number;
  readonly data: Buffer;
}

/** Reads a newc archive (stops at the first `TRAILER!!!`). Throws CpioError on malformed input. */
export function decodeCpio(buf: Buffer): DecodedMember[] {
  const out: DecodedMember[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER_BYTES > buf.length) throw new CpioError(`@${off}`, 'truncated header');
    const header = buf.toString('ascii', off, off + HEADER_BYTES);
    if (!header.startsWith(MAGIC)) throw new CpioError(`@${off}`, `bad magic ${JSON.stringify(header.slice(0, 6))}`);
    const field = (i: number): number => Number.parseInt(header.slice(6 + i * 8, 14 + i * 8), 16);
    const namesize = field(11);
    const filesize = field(6);
    const nameStart = off + HEADER_BYTES;
    if (nameStart + namesize > buf.length || namesize < 1) throw new CpioError(`@${off}`, 'truncated name');
    const name = buf.toString('utf8', nameStart, nameStart + namesize - 1);
    const dataStart = nameStart + namesize + pad4(HEADER_BYTES + namesize);
    if (dataStart + filesize > buf.length) throw new CpioError(name, 'truncated data');
    if (name === TRAILER) return out;
    const mode = field(1);
    const fmt = mode & S_IFMT;
    const type = fmt === S_IFDIR ? 'dir' : fmt === S_IFREG ? 'file' : fmt === S_IFLNK ? 'symlink' : fmt === S_IFCHR ? 'chardev' : 'other';
    out.push({
      path: name,
      type,
      ino: field(0),
      mode,
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtime: field(5),
      rdevMajor: field(9),
      rdevMinor: field(10),
      data: buf.subarray(dataStart, dataStart + filesize),
    });
    off = dataStart + filesize + pad4(filesize);
  }
}
