/**
 * ICU data out of the node binary: npm's Node is full-icu, its 33 MB `icudt<N>l` common-data
 * blob linked in as the symbol `icudt<N>_dat`. It is ~8 MB of the runtime squashfs, which a node
 * holds in /run (RAM) for its whole life. The build puts a small subset (root + English, every
 * item byte-identical to the full one) in the blob's place and zero-fills the rest (squashfs
 * stores zero blocks as sparse: no bytes), and ships the full blob as `icudt<N>l.dat` in a
 * separate squashfs that a node fetches only when a Node job runs (image/rootfs/icu-data).
 *
 * Why this works: ICU looks an item up in the linked common data first; when the item is not
 * there it opens `<package>.dat` in u_getDataDirectory() (NODE_ICU_DATA / --icu-data-dir) and
 * looks again. So a job with NODE_ICU_DATA gets every item, each either from the embedded subset
 * (the same bytes) or from the full file, and behaves as with the original binary; the agent,
 * without it, gets English. (A linked blob with a broken header is not an option: ICU's
 * U_INVALID_FORMAT_ERROR then sticks and node refuses to start even with NODE_ICU_DATA set.)
 *
 * Pure functions over buffers; the icupkg run and the file I/O are in node-runtime.ts.
 */

/** Where the blob sits in the ELF file. */
export interface IcuBlob {
  /** The symbol, e.g. `icudt78_dat`. */
  readonly symbol: string;
  /** ICU's package name, e.g. `icudt78l` (the item prefix and the .dat file name). */
  readonly packageName: string;
  readonly offset: number;
  readonly length: number;
}

export interface CommonDataItem {
  /** Without the package prefix, e.g. `coll/root.res`. */
  readonly name: string;
  readonly offset: number;
  readonly length: number;
}

const MAGIC = [0xda, 0x27] as const;

/** The blob of a 64-bit little-endian ELF (x86-64, aarch64), found by its dynamic symbol and checked by its header. */
export function findIcuBlob(elf: Buffer): IcuBlob {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    return {
      type: elf.readUInt32LE(at + 4),
      addr: Number(elf.readBigUInt64LE(at + 0x10)),
      offset: Number(elf.readBigUInt64LE(at + 0x18)),
      size: Number(elf.readBigUInt64LE(at + 0x20)),
      link: elf.readUInt32LE(at + 0x28),
      entsize: Number(elf.readBigUInt64LE(at + 0x38)),
    };
  });
  const SHT_DYNSYM = 11;
  const SHT_NOBITS = 8;
  const found: { symbol: string; addr: number; size: number }[] = [];
  for (const s of sections.filter((x) => x.type === SHT_DYNSYM)) {
    const strtab = sections[s.link];
    if (!strtab) continue;
    for (let at = s.offset; at + 24 <= s.offset + s.size; at += s.entsize || 24) {
      const nameOff = strtab.offset + elf.readUInt32LE(at);
      const end = elf.indexOf(0, nameOff);
      const name = elf.toString('latin1', nameOff, end);
      if (/^icudt\d+_dat$/.test(name)) found.push({ symbol: name, addr: Number(elf.readBigUInt64LE(at + 8)), size: Number(elf.readBigUInt64LE(at + 16)) });
    }
  }
  if (found.length !== 1) throw new Error(`expected one icudt<N>_dat symbol, found ${found.length}`);
  const sym = found[0]!;
  const sec = sections.find((x) => x.type !== SHT_NOBITS && x.addr !== 0 && sym.addr >= x.addr && sym.addr + sym.size <= x.addr + x.size);
  if (!sec) throw new Error(`${sym.symbol} lies in no section with file contents`);
  const offset = sec.offset + (sym.addr - sec.addr);
  const blob = elf.subarray(offset, offset + sym.size);
  const items = parseCommonData(blob);
  const prefix = /^([^/]+)\//.exec(items.rawFirstName)?.[1];
  if (!prefix) throw new Error(`${sym.symbol}: no package prefix in its table of contents`);
  return { symbol: sym.symbol, packageName: prefix, offset, length: sym.size };
}

/** Items of an ICU common-data package (header, count, {nameOffset, dataOffset} pairs, names, items). */
export function parseCommonData(blob: Buffer): { items: CommonDataItem[]; headerSize: number; rawFirstName: string } {
  if (blob.length < 32) throw new Error('ICU common data: too short');
  const headerSize = blob.readUInt16LE(0);
  if (blob[2] !== MAGIC[0] || blob[3] !== MAGIC[1]) throw new Error('ICU common data: bad magic (want 0xda 0x27)');
  if (blob[8] !== 0) throw new Error('ICU common data: big-endian data is not handled');
  if (blob.toString('latin1', 12, 16) !== 'CmnD')
    throw new Error(`ICU common data: data format ${JSON.stringify(blob.toString('latin1', 12, 16))}, want "CmnD"`);
  const base = headerSize;
  const count = blob.readUInt32LE(base);
  if (base + 4 + count * 8 > blob.length) throw new Error('ICU common data: table of contents runs past the end');
  const entries = Array.from({ length: count }, (_, i) => ({
    nameOffset: blob.readUInt32LE(base + 4 + i * 8),
    dataOffset: blob.readUInt32LE(base + 8 + i * 8),
  }));
  let rawFirstName = '';
  const items = entries.map((e, i) => {
    const nameAt = base + e.nameOffset;
    const raw = blob.toString('latin1', nameAt, blob.indexOf(0, nameAt));
    if (i === 0) rawFirstName = raw;
    const next = i + 1 < count ? base + entries[i + 1]!.dataOffset : blob.length;
    const offset = base + e.dataOffset;
    if (offset > next || next > blob.length) throw new Error(`ICU common data: item ${raw} out of bounds`);
    return { name: raw.slice(raw.indexOf('/') + 1), offset, length: next - offset };
  });
  return { items, headerSize, rawFirstName };
}

/** Locale-bundle names that stay in the binary; every other locale bundle (`de.res`, `coll/de_.res`, …) goes. */
export const KEPT_LOCALES: ReadonlySet<string> = new Set(['root', 'en', 'en_US', 'en_US_POSIX']);

/**
 * Whether an item stays in the embedded subset: everything locale-independent (properties,
 * normalisation, time zones, plural rules, break rules, the resource pools, the root collation)
 * and the root and English bundles; not the other locales, nor the lists of installed locales
 * (`res_index.res`: without it the agent claims only what it has; a job reads the full list), the charset converters (.cnv: legacy
 * encodings for TextDecoder), the Thai/CJK/Khmer/Lao/Burmese segmentation dictionaries, the
 * stringprep profiles, confusables, character names and transliterators.
 */
export function keepInSubset(item: string): boolean {
  const base = item.slice(item.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const stem = base.slice(0, dot);
  const ext = base.slice(dot + 1);
  if (ext === 'res' && /^[a-z]{2,3}(_[A-Za-z0-9]*)*$/.test(stem)) return KEPT_LOCALES.has(stem);
  if (['cnv', 'dict', 'spp', 'cfu'].includes(ext)) return false;
  return base !== 'unames.icu' && !item.startsWith('translit/');
}

/** Throws unless every item of the subset is byte-identical to the same item of the full package (padding aside). */
export function checkSubset(full: Buffer, subset: Buffer): { items: number } {
  const fullItems = new Map(parseCommonData(full).items.map((i) => [i.name, i]));
  const sub = parseCommonData(subset).items;
  for (const it of sub) {
    const f = fullItems.get(it.name);
    if (!f) throw new Error(`ICU subset: ${it.name} is not in the full data`);
    // lengths include the 16-byte alignment padding; the item itself must be the same bytes
    const n = Math.min(f.length, it.length);
    if (!full.subarray(f.offset, f.offset + n).equals(subset.subarray(it.offset, it.offset + n)) || Math.abs(f.length - it.length) >= 16)
      throw new Error(`ICU subset: ${it.name} differs from the full data`);
  }
  return { items: sub.length };
}

/** The binary with `replacement` (a valid common-data package) in the blob's place and zeros after it. */
export function replaceIcuBlob(elf: Buffer, blob: IcuBlob, replacement: Buffer): Buffer {
  if (replacement.length > blob.length) throw new Error(`ICU replacement (${replacement.length} bytes) is larger than the blob (${blob.length})`);
  parseCommonData(replacement);
  const out = Buffer.from(elf);
  out.fill(0, blob.offset, blob.offset + blob.length);
  replacement.copy(out, blob.offset);
  return out;
}
