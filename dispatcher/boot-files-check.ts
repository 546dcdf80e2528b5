/**
 * What a master with netboot enabled tells machines to fetch must exist before it says so: a
 * PXE client sent to a missing `undionly.kpxe` just loops, far from anyone who could read a
 * log. `advertisedBootFiles(netboot)` lists every file the DHCP answers and the boot scripts
 * name (per client class), `missingBootFiles` keeps the absent ones, and startMaster refuses
 * to start with a BootFilesMissingError naming each file and the command that builds it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PiclusterError } from '../common/errors.ts';
import type { NetbootConfig } from '../netboot/config.ts';

export interface AdvertisedFile {
  /** Absolute path on the master. */
  readonly path: string;
  /** Who fetches it, and why. */
  readonly what: string;
  /** The command that builds it into the default layout. */
  readonly build: string;
}

const BUILD_ARM64 = 'npm run build-image -- --arch arm64';
const BUILD_AMD64 = 'npm run build-image -- --arch amd64';
/** The arm64 UEFI loader build-image makes; another name is the operator's own loader. */
const GRUB_LOADER = 'grubnetaa64.efi';

export function advertisedBootFiles(netboot: Pick<NetbootConfig, 'tftpRoot' | 'httpRoot' | 'dhcp'>): AdvertisedFile[] {
  const tftp = (f: string): string => join(resolve(netboot.tftpRoot), f);
  const http = (f: string): string => join(resolve(netboot.httpRoot), f);
  const files = netboot.dhcp.bootFiles;
  const out: AdvertisedFile[] = [
    { path: tftp('bootcode.bin'), what: 'Pi 3 boot ROM: second stage (TFTP)', build: BUILD_ARM64 },
    { path: tftp('start.elf'), what: 'Pi 3 firmware (TFTP)', build: BUILD_ARM64 },
    { path: tftp('start4.elf'), what: 'Pi 4 firmware (TFTP)', build: BUILD_ARM64 },
    { path: tftp('config.txt'), what: 'Pi firmware config (TFTP)', build: BUILD_ARM64 },
    { path: tftp('cmdline.txt'), what: 'Pi per-node kernel command line template (TFTP)', build: BUILD_ARM64 },
    { path: tftp('kernel8.img'), what: 'arm64 kernel for Pis and GRUB (TFTP)', build: BUILD_ARM64 },
    { path: tftp('initramfs8'), what: 'arm64 initramfs for Pis and GRUB (TFTP)', build: BUILD_ARM64 },
    { path: http('arm64/runtime.squashfs'), what: 'arm64 runtime fetched by /init (HTTP /boot/)', build: BUILD_ARM64 },
    { path: tftp(files.bios), what: 'x86 BIOS PXE boot file, netboot.dhcp.bootFiles.bios (TFTP)', build: BUILD_ARM64 },
    { path: tftp(files.x64Uefi), what: 'x86-64 UEFI PXE boot file, netboot.dhcp.bootFiles.x64Uefi (TFTP)', build: BUILD_ARM64 },
    { path: tftp(files.arm64Uefi), what: 'arm64 UEFI PXE boot file, netboot.dhcp.bootFiles.arm64Uefi (TFTP)', build: BUILD_ARM64 },
    { path: http('amd64/boot.ipxe'), what: 'iPXE per-node script template for /boot/ipxe (HTTP)', build: BUILD_AMD64 },
    { path: http('amd64/vmlinuz'), what: 'amd64 kernel named by the iPXE script (HTTP /boot/)', build: BUILD_AMD64 },
    { path: http('amd64/initramfs.img'), what: 'amd64 initramfs named by the iPXE script (HTTP /boot/)', build: BUILD_AMD64 },
    { path: http('amd64/runtime.squashfs'), what: 'amd64 runtime fetched by /init (HTTP /boot/)', build: BUILD_AMD64 },
  ];
  if (files.arm64Uefi === GRUB_LOADER) out.push({ path: tftp('grub.cfg'), what: `per-node GRUB config template of ${GRUB_LOADER} (TFTP)`, build: BUILD_ARM64 });
  return out;
}

export function missingBootFiles(
  netboot: Pick<NetbootConfig, 'tftpRoot' | 'httpRoot' | 'dhcp'>,
  exists: (path: string) => boolean = existsSync,
): AdvertisedFile[] {
  return advertisedBootFiles(netboot).filter((f) => !exists(f.path));
}

export class BootFilesMissingError extends PiclusterError {
  readonly code = 'BOOT_FILES_MISSING';
  constructor(readonly missing: readonly AdvertisedFile[]) {
    const commands = [...new Set(missing.map((f) => f.build))];
    super(
      `netboot is enabled but ${missing.length} file(s) it advertises are missing: ` +
        missing.map((f) => `${f.path} (${f.what}; built by \`${f.build}\`)`).join('; ') +
        `. Build them with ${commands.map((c) => `\`${c}\``).join(' and ')} (\`npm run build-image\` builds both into image/dist), ` +
        'or build elsewhere with `picluster build-image --arch all --out DIR` and set netboot.tftpRoot: DIR/pi, netboot.httpRoot: DIR.',
      { details: { missing: missing.map((f) => f.path) } },
    );
  }
}
