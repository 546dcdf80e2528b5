import { describe, expect, it } from 'vitest';
import { checkSubset, findIcuBlob, keepInSubset, parseCommonData, replaceIcuBlob } from './icu-data.ts';

const HEADER_SIZE = 32;

/** An ICU common-data package as icupkg lays it out: header, count, TOC, names, 16-aligned items. */
function commonData(prefix: string, items: ReadonlyArray<readonly [string, Buffer]>, format = 'CmnD'): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt16LE(HEADER_SIZE, 0);
  header[2] = 0xda;
  header[3] = 0x27;
  header.writeUInt16LE(20, 4); // UDataInfo.size
  header[10] = 2; // sizeofUChar
  header.write(format, 12, 'latin1');
  header[16] = 1; // formatVersion
  const names = Buffer.concat(items.map(([n]) => Buffer.from(`${prefix}/${n}\0`, 'latin1')));
  const tocBytes = 4 + items.length * 8;
  const namesEnd = tocBytes + names.length;
  let dataAt = Math.ceil(namesEnd / 16) * 16;
  const toc = Buffer.alloc(tocBytes);
  toc.writeUInt32LE(items.length, 0);
  let nameAt = tocBytes;
  const body: Buffer[] = [];
  items.forEach(([n, data], i) => {
    toc.writeUInt32LE(nameAt, 4 + i * 8);
    toc.writeUInt32LE(dataAt, 8 + i * 8);
    nameAt += Buffer.byteLength(`${prefix}/${n}\0`, 'latin1');
    const padded = Buffer.alloc(Math.ceil(data.length / 16) * 16);
    data.copy(padded);
    body.push(padded);
    dataAt += padded.length;
  });
  return Buffer.concat([header, toc, names, Buffer.alloc(Math.ceil(namesEnd / 16) * 16 - namesEnd), ...body]);
}

/** A minimal ELF64 LE file: .rodata holding `blob` at vaddr 0x401000, a .dynsym with `symbol` naming it. */
function elfWith(blob: Buffer, symbol = 'icudt78_dat', rodataPad = 48): Buffer {
  const rodataAddr = 0x401000;
  const rodata = Buffer.concat([Buffer.alloc(rodataPad, 0xaa), blob, Buffer.alloc(32, 0xbb)]);
  const dynstr = Buffer.from(`\0${symbol}\0other\0`, 'latin1');
  const dynsym = Buffer.alloc(24 * 3);
  dynsym.writeUInt32LE(1, 24); // name offset of symbol
  dynsym.writeBigUInt64LE(BigInt(rodataAddr + rodataPad), 24 + 8);
  dynsym.writeBigUInt64LE(BigInt(blob.length), 24 + 16);
  dynsym.writeUInt32LE(1 + symbol.length + 1, 48); // "other"
  const rodataOff = 64;
  const dynsymOff = rodataOff + rodata.length;
  const dynstrOff = dynsymOff + dynsym.length;
  const shoff = dynstrOff + dynstr.length;
  const sh = Buffer.alloc(64 * 4);
  const section = (i: number, type: number, addr: number, offset: number, size: number, link: number, entsize: number): void => {
    const at = i * 64;
    sh.writeUInt32LE(type, at + 4);
    sh.writeBigUInt64LE(BigInt(addr), at + 0x10);
    sh.writeBigUInt64LE(BigInt(offset), at + 0x18);
    sh.writeBigUInt64LE(BigInt(size), at + 0x20);
    sh.writeUInt32LE(link, at + 0x28);
    sh.writeBigUInt64LE(BigInt(entsize), at + 0x38);
  };
  section(1, 1, rodataAddr, rodataOff, rodata.length, 0, 0); // PROGBITS
  section(2, 11, 0, dynsymOff, dynsym.length, 3, 24); // DYNSYM → strtab 3
  section(3, 3, 0, dynstrOff, dynstr.length, 0, 0); // STRTAB
  const eh = Buffer.alloc(64);
  eh.writeUInt32BE(0x7f454c46, 0);
  eh[4] = 2; // ELFCLASS64
  eh[5] = 1; // little-endian
  eh.writeBigUInt64LE(BigInt(shoff), 0x28);
  eh.writeUInt16LE(64, 0x3a);
  eh.writeUInt16LE(4, 0x3c);
  return Buffer.concat([eh, rodata, dynsym, dynstr, sh]);
}

const ITEMS: ReadonlyArray<readonly [string, Buffer]> = [
  ['cnvalias.icu', Buffer.from('aliases-'.repeat(5))],
  ['coll/de.res', Buffer.from('german collation')],
  ['coll/root.res', Buffer.from('root collation!!!')],
  ['de.res', Buffer.from('Januar Februar')],
  ['en.res', Buffer.from('January February March')],
  ['root.res', Buffer.from('r')],
];

describe('ICU data out of the node binary', () => {
  const full = commonData('icudt78l', ITEMS);

  it('parses a common-data package: names without prefix, offsets, lengths up to the next item (and the end)', () => {
    const { items, headerSize } = parseCommonData(full);
    expect(headerSize).toBe(HEADER_SIZE);
    expect(items.map((i) => i.name)).toEqual(ITEMS.map(([n]) => n));
    for (const [i, it] of items.entries()) {
      const data = ITEMS[i]![1];
      expect(full.subarray(it.offset, it.offset + data.length).equals(data)).toBe(true);
      expect(it.length).toBe(Math.ceil(data.length / 16) * 16);
    }
    expect(items.at(-1)!.offset + items.at(-1)!.length).toBe(full.length);
  });

  it('refuses what is not common data', () => {
    const bad = Buffer.from(full);
    bad[3] = 0x28;
    expect(() => parseCommonData(bad)).toThrow(/magic/);
    expect(() => parseCommonData(commonData('icudt78l', ITEMS, 'ResB'))).toThrow(/CmnD/);
  });

  it('finds the blob by its dynamic symbol, checks its header, and reads the package name', () => {
    const elf = elfWith(full);
    const blob = findIcuBlob(elf);
    expect(blob).toEqual({ symbol: 'icudt78_dat', packageName: 'icudt78l', offset: 64 + 48, length: full.length });
    expect(elf.subarray(blob.offset, blob.offset + blob.length).equals(full)).toBe(true);
  });

  it('fails without the symbol, and when the symbol does not point at common data', () => {
    expect(() => findIcuBlob(elfWith(full, 'something_else'))).toThrow(/icudt<N>_dat/);
    const shifted = elfWith(full);
    shifted.fill(0, 64 + 48, 64 + 48 + 4); // header gone
    expect(() => findIcuBlob(shifted)).toThrow(/magic/);
    expect(() => findIcuBlob(Buffer.alloc(128))).toThrow(/ELF/);
  });

  it('keeps root, English and locale-independent items; drops other locales, converters and dictionaries', () => {
    const kept = [
      'root.res',
      'en.res',
      'en_US.res',
      'coll/root.res',
      'coll/ucadata.icu',
      'zone/en.res',
      'pool.res',
      'zoneinfo64.res',
      'supplementalData.res',
      'cnvalias.icu',
      'brkitr/word.brk',
      'nfkc.nrm',
    ];
    const dropped = [
      'de.res',
      'de_CH.res',
      'coll/de_.res',
      'zone/fr.res',
      'en_GB.res',
      'brkitr/cjdict.dict',
      'ibm-37_P100-1995.cnv',
      'unames.icu',
      'translit/root.res',
      'rfc3491.spp',
      'confusables.cfu',
      'zh_Hant_TW.res',
      'res_index.res',
      'brkitr/res_index.res',
    ];
    expect(kept.filter((n) => !keepInSubset(n))).toEqual([]);
    expect(dropped.filter((n) => keepInSubset(n))).toEqual([]);
  });

  it('puts the subset in the blob’s place, zero-fills the rest, and leaves every other byte alone', () => {
    const subset = commonData(
      'icudt78l',
      ITEMS.filter(([n]) => keepInSubset(n)),
    );
    expect(checkSubset(full, subset)).toEqual({ items: 4 });
    const elf = elfWith(full);
    const blob = findIcuBlob(elf);
    const out = replaceIcuBlob(elf, blob, subset);
    expect(out.length).toBe(elf.length);
    expect(out.subarray(0, blob.offset).equals(elf.subarray(0, blob.offset))).toBe(true);
    expect(out.subarray(blob.offset + blob.length).equals(elf.subarray(blob.offset + blob.length))).toBe(true);
    expect(out.subarray(blob.offset, blob.offset + subset.length).equals(subset)).toBe(true);
    expect(out.subarray(blob.offset + subset.length, blob.offset + blob.length).every((b) => b === 0)).toBe(true);
    // the patched binary is found again, now with the subset (and the same deterministic bytes twice)
    expect(parseCommonData(out.subarray(blob.offset, blob.offset + blob.length)).items.map((i) => i.name)).toEqual([
      'cnvalias.icu',
      'coll/root.res',
      'en.res',
      'root.res',
    ]);
    expect(replaceIcuBlob(elf, blob, subset).equals(out)).toBe(true);
    expect(() => replaceIcuBlob(elf, blob, Buffer.concat([full, Buffer.alloc(16)]))).toThrow(/larger/);
  });

  it('rejects a subset whose items are not the full data’s bytes', () => {
    const changed = commonData('icudt78l', [
      ['en.res', Buffer.from('January February Marc!')],
      ['root.res', Buffer.from('r')],
    ]);
    expect(() => checkSubset(full, changed)).toThrow(/en.res differs/);
    expect(() => checkSubset(full, commonData('icudt78l', [['fr.res', Buffer.from('x')]]))).toThrow(/fr.res is not in the full data/);
  });
});
