/**
 * The virtual TFTP root: shared files from a directory (the built image), per-node
 * generated files (`deps.directory.renderNodeFile`), and serial- or MAC-prefixed paths
 * that fall back to the shared file of the same name.
 *
 * Hand-written TFTP rather than the npm `tftp` package (0.1.2): that runs at about half
 * dnsmasq's speed, its windowed mode fails under 0.2 % loss, and an unhandled client
 * ERROR crashes the process.
 *
 * Lookup of `<prefix>/<rest>` where prefix is a Pi serial (8 hex, `TFTP_PREFIX=0`) or a
 * MAC written `aa-bb-cc-dd-ee-ff` (`TFTP_PREFIX=2`, DOC-EEPROM):
 *   1. the node's generated file, when the directory knows the node and renders `rest`;
 *   2. a real file `<root>/<prefix>/<rest>` (a per-node directory, as dnsmasq serves);
 *   3. the shared file `<root>/<rest>`.
 * The fallback matters: Pi firmware probes `<serial>/start.elf` and only keeps using the
 * prefix if it exists (DOC-NET), and the prefix is what lets us serve per-node files.
 *
 * Confinement: names with `..`, `.`, empty segments, backslashes, NUL, control or
 * non-ASCII bytes are refused before touching the file system (a leading `/` is the root). Candidates are
 * resolved with realpath and must stay under the root's realpath; the file is then opened
 * with O_NOFOLLOW|O_NONBLOCK (no FIFO can block us) and, on Linux, the opened descriptor's
 * `/proc/self/fd` link is checked again, so a symlink swapped in between cannot make us
 * read outside the root. Only regular files are served.
 *
 * Cache: each file is read once into one Buffer shared by every transfer (transfers send
 * slices of it, never copies), revalidated by a stat per request (mtime, size, inode) and
 * evicted least-recently-used beyond `cacheMaxBytes`. Concurrent requests share one read.
 *
 * EFI loaders get the server's own address filled in as they are read (`serverAddress`,
 * loader-fill.ts): GRUB under proxy DHCP cannot learn it otherwise.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { NetbootNode, NodeDirectory } from '../node-directory.ts';
import { TftpFileError } from './errors.ts';
import { toNetascii } from './codec.ts';
import { fillServerAddress, isFillableLoader } from './loader-fill.ts';

export type FileSource = 'node-file' | 'prefixed' | 'shared';

export interface ResolvedFile {
  /** The content to send (shared with other transfers; never mutate). */
  readonly data: Buffer;
  readonly source: FileSource;
  /** The node the prefix identified, if the directory knows it. */
  readonly node?: NetbootNode;
  /** Serial from a serial prefix (8 lowercase hex). */
  readonly serial?: string;
  /** MAC from a MAC prefix or the identified node (`aa:bb:cc:dd:ee:ff`). */
  readonly mac?: string;
}

export type PathCheck = { readonly ok: true; readonly segments: readonly string[] } | { readonly ok: false; readonly reason: string };

/** Pure validation of a requested name. Every refusal is an access violation. */
export function checkRequestPath(name: string): PathCheck {
  if (name.length === 0) return { ok: false, reason: 'empty name' };
  if (name.length > 1024) return { ok: false, reason: 'name too long' };
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0) return { ok: false, reason: 'NUL in name' };
    if (c < 0x20 || c > 0x7e) return { ok: false, reason: 'control or non-ASCII character in name' };
    if (c === 0x5c) return { ok: false, reason: 'backslash in name' };
  }
  // A leading `/` names the root (GRUB asks for `(tftp)/x` as `/x`, as tftpd-hpa and dnsmasq
  // take it); the rest is checked as a relative name.
  const relative = name.replace(/^\/+/, '');
  if (relative.length === 0) return { ok: false, reason: 'empty name' };
  const segments = relative.split('/');
  for (const s of segments) {
    if (s === '..') return { ok: false, reason: 'parent directory segment' };
    if (s === '.' || s === '') return { ok: false, reason: 'empty or dot segment' };
  }
  return { ok: true, segments };
}

const SERIAL_PREFIX = /^[0-9a-fA-F]{8}$/;
const MAC_PREFIX = /^[0-9a-fA-F]{2}(-[0-9a-fA-F]{2}){5}$/;

export type Prefix = { readonly kind: 'serial'; readonly serial: string } | { readonly kind: 'mac'; readonly mac: string };

/** A leading serial or MAC directory, if the first segment is one and something follows. */
export function parsePrefix(segments: readonly string[]): Prefix | undefined {
  if (segments.length < 2) return undefined;
  const first = segments[0]!;
  if (SERIAL_PREFIX.test(first)) return { kind: 'serial', serial: first.toLowerCase() };
  if (MAC_PREFIX.test(first)) return { kind: 'mac', mac: first.toLowerCase().replaceAll('-', ':') };
  return undefined;
}

interface CacheEntry {
  readonly key: string;
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
  readonly data: Buffer;
  netascii?: Buffer;
}

export interface VirtualRootOptions {
  readonly root: string;
  readonly directory: NodeDirectory;
  readonly cacheMaxBytes: number;
  /** The address this server answers from: filled into EFI loaders (loader-fill.ts). */
  readonly serverAddress?: string;
}

export class VirtualRoot {
  private readonly root: string;
  private readonly directory: NodeDirectory;
  private readonly cacheMaxBytes: number;
  private readonly serverAddress: string | undefined;
  private rootReal: Promise<string> | undefined;
  private readonly cache = new Map<string, CacheEntry>();
  private cachedBytes = 0;
  private readonly pending = new Map<string, Promise<CacheEntry>>();
  private readonly checkProcFd = existsSync('/proc/self/fd');
  /** Number of files read from disk (tests assert the cache works). */
  reads = 0;

  constructor(options: VirtualRootOptions) {
    this.root = options.root;
    this.directory = options.directory;
    this.cacheMaxBytes = options.cacheMaxBytes;
    this.serverAddress = options.serverAddress;
  }

  /** Resolves a requested name; throws `TftpFileError` when it cannot be served. */
  async resolve(name: string, options: { netascii?: boolean } = {}): Promise<ResolvedFile> {
    const check = checkRequestPath(name);
    if (!check.ok) throw new TftpFileError('access-violation', check.reason);
    const segments = check.segments;
    const prefix = parsePrefix(segments);
    const pick = (e: CacheEntry): Buffer => (options.netascii ? (e.netascii ??= toNetascii(e.data)) : e.data);

    if (prefix === undefined) {
      const entry = await this.readShared(segments);
      if (!entry) throw new TftpFileError('not-found', `no such file ${name}`);
      return { data: pick(entry), source: 'shared' };
    }

    const who = this.identify(name);
    const node = who.node;
    const rest = segments.slice(1);
    if (node && this.directory.renderNodeFile) {
      const generated = this.directory.renderNodeFile(node, rest.join('/'));
      if (generated !== undefined) {
        return { data: options.netascii ? toNetascii(generated) : generated, source: 'node-file', ...who };
      }
    }
    const prefixed = await this.readShared(segments);
    if (prefixed) return { data: pick(prefixed), source: 'prefixed', ...who };
    const shared = await this.readShared(rest);
    if (shared) return { data: pick(shared), source: 'shared', ...who };
    throw new TftpFileError('not-found', `no such file ${name}`);
  }

  /** Who a request names through its prefix (for boot events of failed requests). */
  identify(name: string): { node?: NetbootNode; serial?: string; mac?: string } {
    const check = checkRequestPath(name);
    if (!check.ok) return {};
    const prefix = parsePrefix(check.segments);
    if (!prefix) return {};
    const node = prefix.kind === 'serial' ? this.directory.findBySerial(prefix.serial) : this.directory.findByMac(prefix.mac);
    const serial = prefix.kind === 'serial' ? prefix.serial : node?.serial;
    const mac = prefix.kind === 'mac' ? prefix.mac : node?.mac;
    return { ...(node ? { node } : {}), ...(serial !== undefined ? { serial } : {}), ...(mac !== undefined ? { mac } : {}) };
  }

  private realRoot(): Promise<string> {
    this.rootReal ??= fsp.realpath(this.root);
    return this.rootReal;
  }

  private inside(rootReal: string, p: string): boolean {
    return p === rootReal ? false : p.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);
  }

  /**
   * The cached content of `<root>/<segments>`, or undefined when it does not exist (or is
   * not a regular file). Throws an access violation when it resolves outside the root.
   */
  private async readShared(segments: readonly string[]): Promise<CacheEntry | undefined> {
    let rootReal: string;
    try {
      rootReal = await this.realRoot();
    } catch (e) {
      this.rootReal = undefined; // the root may appear later (image not built yet)
      throw new TftpFileError('not-found', 'tftp root does not exist', { cause: e });
    }
    const candidate = join(rootReal, ...segments);
    let real: string;
    try {
      real = await fsp.realpath(candidate);
    } catch {
      return undefined;
    }
    if (!this.inside(rootReal, real)) throw new TftpFileError('access-violation', 'path leaves the tftp root');
    let st;
    try {
      st = await fsp.stat(real);
    } catch {
      return undefined;
    }
    if (!st.isFile()) return undefined;
    const hit = this.cache.get(real);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size && hit.ino === st.ino) {
      // Refresh LRU position.
      this.cache.delete(real);
      this.cache.set(real, hit);
      return hit;
    }
    const inflight = this.pending.get(real);
    if (inflight) return inflight;
    const p = this.load(rootReal, real).finally(() => this.pending.delete(real));
    this.pending.set(real, p);
    return p;
  }

  private async load(rootReal: string, real: string): Promise<CacheEntry> {
    const fh = await fsp.open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK).catch((e: unknown) => {
      throw new TftpFileError('access-violation', 'cannot open file', { cause: e });
    });
    try {
      if (this.checkProcFd) {
        const opened = await fsp.readlink(`/proc/self/fd/${fh.fd}`);
        if (!this.inside(rootReal, opened)) throw new TftpFileError('access-violation', 'path leaves the tftp root');
      }
      const st = await fh.stat();
      if (!st.isFile()) throw new TftpFileError('not-found', 'not a regular file');
      // Shared memory: transfer workers (workers.ts) send slices of it without a copy.
      const data = Buffer.from(new SharedArrayBuffer(st.size));
      let off = 0;
      while (off < st.size) {
        const { bytesRead } = await fh.read(data, off, st.size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      this.reads++;
      if (this.serverAddress && isFillableLoader(real)) fillServerAddress(data, this.serverAddress);
      const entry: CacheEntry = { key: real, mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, data: off === st.size ? data : data.subarray(0, off) };
      this.store(entry);
      return entry;
    } finally {
      await fh.close();
    }
  }

  private store(entry: CacheEntry): void {
    const old = this.cache.get(entry.key);
    if (old) {
      this.cache.delete(entry.key);
      this.cachedBytes -= old.size;
    }
    if (entry.size > this.cacheMaxBytes) return; // served, but not kept
    this.cache.set(entry.key, entry);
    this.cachedBytes += entry.size;
    for (const [key, e] of this.cache) {
      if (this.cachedBytes <= this.cacheMaxBytes) break;
      this.cache.delete(key);
      this.cachedBytes -= e.size;
    }
  }
}
