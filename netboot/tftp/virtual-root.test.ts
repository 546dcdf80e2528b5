import { mkdtempSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetbootNode, NodeDirectory } from '../node-directory.ts';
import { TftpFileError } from './errors.ts';
import { TFTP_SERVER_PLACEHOLDER } from './loader-fill.ts';
import { checkRequestPath, parsePrefix, VirtualRoot } from './virtual-root.ts';

const node6: NetbootNode = { name: 'node6', mac: 'dc:a6:32:01:36:c2', serial: '89eb9bb9', model: 'pi4', approved: true };
const directory: NodeDirectory = {
  findByMac: (mac) => (mac === node6.mac ? node6 : undefined),
  findBySerial: (s) => (s === node6.serial ? node6 : undefined),
  renderNodeFile: (node, file) => (file === 'cmdline.txt' ? Buffer.from(`console=serial0 picluster.node=${node.name}\n`) : undefined),
};

let base: string;
let root: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'picluster-vroot-'));
  root = join(base, 'root');
  mkdirSync(join(root, 'overlays'), { recursive: true });
  mkdirSync(join(root, '89eb9bb9'));
  writeFileSync(join(root, 'start.elf'), 'shared start.elf');
  writeFileSync(join(root, 'grubnetaa64.efi'), `MZ set s=${TFTP_SERVER_PLACEHOLDER}\n`);
  writeFileSync(join(root, 'kernel8.img'), `k ${TFTP_SERVER_PLACEHOLDER}`);
  writeFileSync(join(root, 'cmdline.txt'), 'shared cmdline');
  writeFileSync(join(root, 'config.txt'), 'shared config');
  writeFileSync(join(root, 'overlays', 'x.dtbo'), 'overlay');
  writeFileSync(join(root, '89eb9bb9', 'config.txt'), 'node6 config on disk');
  writeFileSync(join(base, 'secret.txt'), 'outside the root');
  mkdirSync(join(base, 'outside-dir'));
  writeFileSync(join(base, 'outside-dir', 'f'), 'outside');
  symlinkSync(join(base, 'secret.txt'), join(root, 'escape-abs'));
  symlinkSync('../secret.txt', join(root, 'escape-rel'));
  symlinkSync(join(base, 'outside-dir'), join(root, 'escape-dir'));
  symlinkSync('start.elf', join(root, 'alias.elf')); // inside: allowed
  symlinkSync('/proc/self/environ', join(root, 'proc'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const vroot = (cacheMaxBytes = 1 << 20): VirtualRoot => new VirtualRoot({ root, directory, cacheMaxBytes });

async function problem(v: VirtualRoot, name: string): Promise<string> {
  try {
    await v.resolve(name);
  } catch (e) {
    if (e instanceof TftpFileError) return e.problem;
    throw e;
  }
  return 'served';
}

describe('checkRequestPath', () => {
  it.each([
    ['../etc/passwd', 'parent directory segment'],
    ['a/../../b', 'parent directory segment'],
    ['/', 'empty name'],
    ['/../etc/passwd', 'parent directory segment'],
    ['a\\..\\b', 'backslash in name'],
    ['a\0b', 'NUL in name'],
    ['a//b', 'empty or dot segment'],
    ['./a', 'empty or dot segment'],
    ['a/', 'empty or dot segment'],
    ['', 'empty name'],
    ['caf\u00e9', 'control or non-ASCII character in name'],
    ['a\nb', 'control or non-ASCII character in name'],
  ])('refuses %j (%s)', (name, reason) => expect(checkRequestPath(name)).toEqual({ ok: false, reason }));
  it.each(['bootcode.bin', '89eb9bb9/start.elf', 'overlays/x.dtbo', 'a..b', '..a'])('accepts %j', (name) => expect(checkRequestPath(name).ok).toBe(true));
  it('takes a leading / as the root (GRUB sends `(tftp)/x` as `/x`)', () => {
    expect(checkRequestPath('/aa-bb-cc-dd-ee-ff/grub.cfg')).toEqual({ ok: true, segments: ['aa-bb-cc-dd-ee-ff', 'grub.cfg'] });
    expect(checkRequestPath('//etc/passwd')).toEqual({ ok: true, segments: ['etc', 'passwd'] });
  });
});

describe('parsePrefix', () => {
  it.each([
    [['89EB9BB9', 'start.elf'], { kind: 'serial', serial: '89eb9bb9' }],
    [['dc-a6-32-01-36-C2', 'start4.elf'], { kind: 'mac', mac: 'dc:a6:32:01:36:c2' }],
    [['89eb9bb9'], undefined],
    [['overlays', 'x.dtbo'], undefined],
    [['89eb9bb', 'x'], undefined],
  ])('%j', (segments, want) => expect(parsePrefix(segments)).toEqual(want));
});

describe('VirtualRoot', () => {
  it('serves shared files', async () => {
    const r = await vroot().resolve('start.elf');
    expect(r.data.toString()).toBe('shared start.elf');
    expect(r.source).toBe('shared');
  });
  it("serves the node's generated file under its serial prefix, keyed by mac and serial", async () => {
    const r = await vroot().resolve('89eb9bb9/cmdline.txt');
    expect(r).toMatchObject({ source: 'node-file', serial: '89eb9bb9', mac: node6.mac, node: { name: 'node6' } });
    expect(r.data.toString()).toBe('console=serial0 picluster.node=node6\n');
  });
  it('serves the generated file under the MAC prefix too', async () => {
    const r = await vroot().resolve('dc-a6-32-01-36-c2/cmdline.txt');
    expect(r).toMatchObject({ source: 'node-file', serial: '89eb9bb9', mac: node6.mac });
  });
  it('prefers a real per-node file over the shared one', async () => {
    const r = await vroot().resolve('89eb9bb9/config.txt');
    expect(r).toMatchObject({ source: 'prefixed' });
    expect(r.data.toString()).toBe('node6 config on disk');
  });
  it('falls back to the shared file for prefixed names (the Pi probes <serial>/start.elf)', async () => {
    const r = await vroot().resolve('89eb9bb9/start.elf');
    expect(r).toMatchObject({ source: 'shared', node: { name: 'node6' } });
    expect(r.data.toString()).toBe('shared start.elf');
    const unknown = await vroot().resolve('0badf00d/overlays/x.dtbo');
    expect(unknown).toMatchObject({ source: 'shared', serial: '0badf00d' });
    expect(unknown.mac).toBeUndefined();
    expect(unknown.node).toBeUndefined();
  });
  it('follows symlinks that stay inside the root', async () => {
    expect((await vroot().resolve('alias.elf')).data.toString()).toBe('shared start.elf');
  });
  it.each([
    ['../secret.txt', 'access-violation'],
    ['/etc/passwd', 'not-found'], // a leading / is the tftp root: <root>/etc/passwd
    ['/../secret.txt', 'access-violation'],
    ['escape-abs', 'access-violation'],
    ['escape-rel', 'access-violation'],
    ['escape-dir/f', 'access-violation'],
    ['89eb9bb9/escape-abs', 'access-violation'],
    ['proc', 'access-violation'],
    ['overlays\\..\\..\\secret.txt', 'access-violation'],
    ['missing.bin', 'not-found'],
    ['overlays', 'not-found'],
    ['fifo', 'not-found'],
    ['89eb9bb9/missing', 'not-found'],
  ])('%j → %s, never a read outside', async (name, want) => {
    const v = vroot();
    expect(await problem(v, name)).toBe(want);
    expect(v.reads).toBe(0);
  });
  it('reads each file once, shares the Buffer, and re-reads on change', async () => {
    const v = vroot();
    writeFileSync(join(root, 'cached.bin'), 'one');
    const a = await v.resolve('cached.bin');
    const [b, c] = await Promise.all([v.resolve('cached.bin'), v.resolve('89eb9bb9/cached.bin')]);
    expect(b.data).toBe(a.data);
    expect(c.data).toBe(a.data);
    expect(v.reads).toBe(1);
    writeFileSync(join(root, 'cached.bin'), 'two!');
    const d = await v.resolve('cached.bin');
    expect(d.data.toString()).toBe('two!');
    expect(v.reads).toBe(2);
    // Same size, new mtime: re-read as well.
    writeFileSync(join(root, 'cached.bin'), 'six!');
    utimesSync(join(root, 'cached.bin'), new Date(), new Date(Date.now() + 5000));
    expect((await v.resolve('cached.bin')).data.toString()).toBe('six!');
    expect(v.reads).toBe(3);
  });
  it('concurrent first requests share one read', async () => {
    const v = vroot();
    const all = await Promise.all(Array.from({ length: 20 }, () => v.resolve('config.txt')));
    expect(new Set(all.map((r) => r.data)).size).toBe(1);
    expect(v.reads).toBe(1);
  });
  it('evicts beyond cacheMaxBytes', async () => {
    const v = vroot(20);
    await v.resolve('start.elf'); // 16 bytes
    await v.resolve('config.txt'); // 13 bytes: start.elf evicted
    await v.resolve('config.txt');
    expect(v.reads).toBe(2);
    await v.resolve('start.elf');
    expect(v.reads).toBe(3);
  });
  it('serves netascii conversions', async () => {
    writeFileSync(join(root, 'text.txt'), 'a\nb\n');
    expect((await vroot().resolve('text.txt', { netascii: true })).data.toString()).toBe('a\r\nb\r\n');
  });
});

describe('EFI loaders carry the server address', () => {
  it('fills the placeholder in .efi files with serverAddress (cached), other files and rootless addresses untouched', async () => {
    const v = new VirtualRoot({ root, directory, cacheMaxBytes: 1 << 20, serverAddress: '10.213.40.1' });
    const filled = `MZ set s=${'10.213.40.1'.padEnd(TFTP_SERVER_PLACEHOLDER.length, ' ')}\n`;
    expect((await v.resolve('grubnetaa64.efi')).data.toString('latin1')).toBe(filled);
    expect((await v.resolve('/dc-a6-32-01-36-c2/grubnetaa64.efi')).data.toString('latin1')).toBe(filled);
    expect((await v.resolve('kernel8.img')).data.toString('latin1')).toBe(`k ${TFTP_SERVER_PLACEHOLDER}`);
    const plain = await vroot().resolve('grubnetaa64.efi');
    expect(plain.data.toString('latin1')).toBe(`MZ set s=${TFTP_SERVER_PLACEHOLDER}\n`);
  });
});
