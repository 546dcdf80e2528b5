/**
 * The small first-stage initramfs: busybox, /init and its helpers, glibc (for node, which
 * arrives later in the runtime squashfs), the NIC/runtime/watchdog modules, and the image's
 * identity (version, arch, the runtime's sha256). Entry assembly is pure; compression is lz4
 * legacy framing (what the kernel's RD_LZ4 unpacker reads).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeCpio, type CpioEntry } from './cpio.ts';
import { run } from './proc.ts';

export interface InitramfsInputs {
  readonly arch: string;
  readonly triplet: string;
  readonly interpreter: { readonly path: string; readonly target: string };
  readonly imageVersion: string;
  readonly runtimeSha256: string;
  /** sha256 of the package layer (packages.squashfs); absent = no layer. */
  readonly packagesSha256?: string;
  /** sha256 of the full ICU data layer (icu.squashfs, fetched by Node jobs); absent = none. */
  readonly icuSha256?: string;
  readonly busybox: Uint8Array;
  /** soname → library bytes, installed in lib/<triplet>/. */
  readonly libs: ReadonlyMap<string, Uint8Array>;
  /** The files in image/rootfs, by name. */
  readonly rootfs: ReadonlyMap<string, Uint8Array>;
  readonly kernelVersion: string;
  /** kernel-relative module path → bytes */
  readonly modules: ReadonlyMap<string, Uint8Array>;
  readonly modulesDep: string;
  readonly moduleGroups: Readonly<Record<string, readonly string[]>>;
}

/** The rootfs files and where each goes (mode). */
export const ROOTFS_LAYOUT: ReadonlyArray<{ readonly file: string; readonly path: string; readonly mode: number }> = [
  { file: 'init', path: 'init', mode: 0o755 },
  { file: 'inittab', path: 'etc/inittab', mode: 0o644 },
  { file: 'agent-loop', path: 'usr/libexec/picluster/agent-loop', mode: 0o755 },
  { file: 'dhcp-keep', path: 'usr/libexec/picluster/dhcp-keep', mode: 0o755 },
  { file: 'icu-data', path: 'usr/libexec/picluster/icu-data', mode: 0o755 },
  { file: 'udhcpc.script', path: 'usr/share/udhcpc/default.script', mode: 0o755 },
];

export async function readRootfs(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const { file } of ROOTFS_LAYOUT) out.set(file, await readFile(join(dir, file)));
  return out;
}

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

export function initramfsEntries(i: InitramfsInputs): CpioEntry[] {
  const entries: CpioEntry[] = [];
  const file = (path: string, data: Uint8Array, mode = 0o644): void => {
    entries.push({ type: 'file', path, data, mode });
  };
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'run', 'mnt', 'var', 'opt/picluster', 'root', 'etc/picluster/modules']) {
    entries.push({ type: 'dir', path: d, mode: d === 'root' ? 0o700 : 0o755 });
  }
  entries.push({ type: 'dir', path: 'tmp', mode: 0o1777 });
  entries.push({ type: 'symlink', path: 'var/run', target: '../run' });
  entries.push({ type: 'symlink', path: 'var/tmp', target: '../tmp' });
  // The kernel opens /dev/console before /init runs (devtmpfs is mounted later, by /init).
  entries.push({ type: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 });
  entries.push({ type: 'chardev', path: 'dev/null', mode: 0o666, major: 1, minor: 3 });

  file('bin/busybox', i.busybox, 0o755);
  entries.push({ type: 'symlink', path: 'bin/sh', target: 'busybox' });
  for (const { file: name, path, mode } of ROOTFS_LAYOUT) {
    const data = i.rootfs.get(name);
    if (!data) throw new Error(`rootfs file ${name} missing`);
    file(path, data, mode);
  }

  for (const [soname, data] of i.libs) file(`lib/${i.triplet}/${soname}`, data, 0o755);
  entries.push({ type: 'symlink', path: i.interpreter.path, target: i.interpreter.target });

  const modRoot = `lib/modules/${i.kernelVersion}`;
  for (const [path, data] of i.modules) file(`${modRoot}/${path}`, data);
  file(`${modRoot}/modules.dep`, text(i.modulesDep));
  for (const [group, list] of Object.entries(i.moduleGroups)) file(`etc/picluster/modules/${group}`, text(list.map((l) => `${l}\n`).join('')));

  file('etc/picluster/image-version', text(`${i.imageVersion}\n`));
  file('etc/picluster/arch', text(`${i.arch}\n`));
  file('etc/picluster/runtime.sha256', text(`${i.runtimeSha256}\n`));
  if (i.packagesSha256) file('etc/picluster/packages.sha256', text(`${i.packagesSha256}\n`));
  if (i.icuSha256) file('etc/picluster/icu.sha256', text(`${i.icuSha256}\n`));
  file('etc/passwd', text('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'));
  file('etc/group', text('root:x:0:\ntty:x:5:\nnogroup:x:65534:\n'));
  file('etc/shadow', text('root:*:19000:0:99999:7:::\n'), 0o600);
  file('etc/hosts', text('127.0.0.1\tlocalhost\n::1\tlocalhost\n'));
  file('etc/nsswitch.conf', text('passwd: files\ngroup: files\nhosts: files dns\n'));
  file('etc/resolv.conf', text(''));
  return entries;
}

/** The uncompressed newc archive. */
export function buildInitramfsCpio(i: InitramfsInputs, sourceDateEpoch: number): Buffer {
  return encodeCpio(initramfsEntries(i), { mtime: sourceDateEpoch });
}

/** lz4 legacy frame (`lz4 -l`), the format the kernel's initramfs unpacker reads. */
export async function compressLz4Legacy(input: string, output: string): Promise<void> {
  await run('lz4', ['-l', '-9', '-f', '-q', input, output], { step: 'compress initramfs', writes: output });
}
