/**
 * The Pi boot directory (the TFTP root, `pi/`) as data: every file `build-image` writes there
 * and the role it plays. build-image checks its output against this list (an extra or missing
 * file fails the build), and the Buildroot tree (buildroot/) builds its own `pi/` from it, so
 * both builds stay one layout. A file that build-image adds, or produces differently (e.g.
 * compressed), belongs here with its own role.
 */
import { PI_INITRAMFS, PI_KERNEL, PI_RUNTIME_INITRAMFS } from './boot-files.ts';
import { PI_DTBS, PI_FIRMWARE_FILES } from './inputs.ts';

export const PI_CONFIG_TXT = 'config.txt';
export const PI_CMDLINE_TXT = 'cmdline.txt';

export type PiBootRole =
  /** start*.elf / fixup*.dat / bootcode.bin from the Raspberry Pi firmware */
  | 'firmware'
  /** a device tree blob the firmware hands the kernel (config.txt `device_tree=`) */
  | 'dtb'
  /** the kernel image (`kernel=`) */
  | 'kernel'
  /** the first-stage initramfs (lz4 cpio newc) */
  | 'initramfs'
  /** the optional second initramfs holding /runtime.squashfs (single-stage boot) */
  | 'runtime-initramfs'
  /** config.txt, from piConfigTxt() */
  | 'config'
  /** the cmdline.txt template netboot fills per node, from piCmdlineTemplate() */
  | 'cmdline';

export interface PiBootFile {
  readonly name: string;
  readonly role: PiBootRole;
}

/** What `build-image` puts in `pi/`, in the order it writes it. */
export function piBootLayout(): readonly PiBootFile[] {
  return [
    ...PI_FIRMWARE_FILES.map((name) => ({ name, role: 'firmware' as const })),
    ...PI_DTBS.map((name) => ({ name, role: 'dtb' as const })),
    { name: PI_KERNEL, role: 'kernel' },
    { name: PI_INITRAMFS, role: 'initramfs' },
    { name: PI_RUNTIME_INITRAMFS, role: 'runtime-initramfs' },
    { name: PI_CONFIG_TXT, role: 'config' },
    { name: PI_CMDLINE_TXT, role: 'cmdline' },
  ];
}
