/**
 * Consistency of a Pi boot directory (the TFTP root): every start*.elf has its fixup*.dat,
 * everything config.txt names (kernel, initramfs, device_tree) exists, the mandatory settings
 * are there, cmdline.txt is a template, and no file exceeds what the Pi 3 firmware can fetch.
 * Returns problems instead of throwing, so one run reports all of them.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PI_TFTP_MAX_BYTES } from './inputs.ts';

export interface BootDirProblem {
  readonly file: string;
  readonly message: string;
}

/** Firmware pairs: start.elf ↔ fixup.dat, start_cd.elf ↔ fixup_cd.dat, start4.elf ↔ fixup4.dat, … */
export function fixupFor(startElf: string): string {
  return startElf.replace(/^start/, 'fixup').replace(/\.elf$/, '.dat');
}

/** Names config.txt makes the firmware load (for any model section). */
export function filesNamedInConfig(configTxt: string): { kernel: string[]; initramfs: string[]; dtbs: string[]; settings: Map<string, string> } {
  const kernel: string[] = [];
  const initramfs: string[] = [];
  const dtbs: string[] = [];
  const settings = new Map<string, string>();
  for (const raw of configTxt.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line || line.startsWith('[')) continue;
    const ir = /^initramfs\s+(\S+)(?:\s+(\S+))?$/.exec(line);
    if (ir) {
      initramfs.push(...(ir[1] as string).split(','));
      continue;
    }
    const kv = /^([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (!kv) continue;
    const [, key, value] = kv as unknown as [string, string, string];
    settings.set(key, value);
    if (key === 'kernel') kernel.push(value);
    if (key === 'device_tree') dtbs.push(value);
  }
  return { kernel, initramfs, dtbs, settings };
}

/** What a directory is checked against; the defaults are a build-image Pi 3 + Pi 4 directory. */
export interface PiBootDirExpectation {
  /** The exact file list (a layout, see pi-boot-layout.ts): missing and unexpected files are problems. */
  readonly files?: readonly string[];
  /** Settings config.txt must have (default arm_64bit=1, upstream_kernel=1, enable_uart=1). */
  readonly settings?: ReadonlyArray<readonly [string, string]>;
  /** Whether config.txt must name a device tree (default true; the Pi 5 firmware picks its own). */
  readonly deviceTree?: boolean;
}

const DEFAULT_SETTINGS = [
  ['arm_64bit', '1'],
  ['upstream_kernel', '1'],
  ['enable_uart', '1'],
] as const;

export async function checkPiBootDir(dir: string, expect: PiBootDirExpectation = {}): Promise<BootDirProblem[]> {
  const problems: BootDirProblem[] = [];
  const files = await readdir(dir);
  const required = expect.files ?? ['bootcode.bin', 'start.elf', 'fixup.dat', 'start4.elf', 'fixup4.dat', 'config.txt', 'cmdline.txt'];
  for (const f of required) {
    if (!files.includes(f)) problems.push({ file: f, message: 'missing' });
  }
  if (expect.files) {
    for (const f of files) if (!expect.files.includes(f)) problems.push({ file: f, message: 'not in the Pi boot layout (image/build/pi-boot-layout.ts)' });
  }
  for (const f of files.filter((n) => /^start.*\.elf$/.test(n))) {
    if (!files.includes(fixupFor(f))) problems.push({ file: f, message: `no matching ${fixupFor(f)} (the ARM would see 128 MB)` });
  }
  for (const f of files.filter((n) => /^fixup.*\.dat$/.test(n))) {
    const start = f.replace(/^fixup/, 'start').replace(/\.dat$/, '.elf');
    if (!files.includes(start)) problems.push({ file: f, message: `no matching ${start}` });
  }
  for (const f of files) {
    const size = (await stat(join(dir, f))).size;
    if (size > PI_TFTP_MAX_BYTES) problems.push({ file: f, message: `${size} bytes > ${PI_TFTP_MAX_BYTES} (Pi 3 TFTP limit: 65535 blocks of 512 bytes)` });
  }
  if (existsSync(join(dir, 'config.txt'))) {
    const named = filesNamedInConfig(await readFile(join(dir, 'config.txt'), 'utf8'));
    for (const [key, want] of expect.settings ?? DEFAULT_SETTINGS) {
      if (named.settings.get(key) !== want) problems.push({ file: 'config.txt', message: `${key}=${want} missing` });
    }
    if (named.kernel.length === 0) problems.push({ file: 'config.txt', message: 'no kernel=' });
    if (named.initramfs.length === 0) problems.push({ file: 'config.txt', message: 'no "initramfs <file> followkernel"' });
    if (named.dtbs.length === 0 && (expect.deviceTree ?? true)) problems.push({ file: 'config.txt', message: 'no device_tree= for any model' });
    for (const f of [...named.kernel, ...named.initramfs, ...named.dtbs]) {
      if (!files.includes(f)) problems.push({ file: 'config.txt', message: `names ${f}, which is not in the directory` });
    }
  }
  if (existsSync(join(dir, 'cmdline.txt'))) {
    const cmdline = await readFile(join(dir, 'cmdline.txt'), 'utf8');
    for (const p of ['picluster.dispatcher={{dispatcherUrl}}', 'picluster.name={{nodeName}}', 'picluster.token={{token}}']) {
      if (!cmdline.includes(p)) problems.push({ file: 'cmdline.txt', message: `template lacks ${p}` });
    }
    if (cmdline.trim().split('\n').length !== 1) problems.push({ file: 'cmdline.txt', message: 'must be a single line' });
  }
  return problems;
}
