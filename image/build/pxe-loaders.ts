/**
 * The PXE loaders in the TFTP root, beside the Pi files: what the master's DHCP defaults
 * (`netboot.dhcp.bootFiles`) name for each non-Pi PXE client class, all from Debian packages.
 *
 *   x86 BIOS (arch 0)        undionly.kpxe    Debian `ipxe` (/usr/lib/ipxe/undionly.kpxe)
 *   x86-64 UEFI (arch 7, 9)  ipxe.efi         Debian `ipxe` (/boot/ipxe.efi)
 *     iPXE then DHCPs again (user class iPXE) and is sent to `/boot/ipxe?mac=${net0/mac}`:
 *     the node's script (amd64/boot.ipxe filled in) loads the amd64 kernel + initramfs over HTTP.
 *   arm64 UEFI (arch 11)     grubnetaa64.efi  GRUB built here with grub-mkimage (host `grub-common`)
 *     from Debian's `grub-efi-arm64-bin` modules (an arm64 .deb through the private apt: it is
 *     not installable on an amd64 host, and Debian packages no arm64 iPXE). Its embedded config
 *     loads `<mac>/grub.cfg` over TFTP — netboot renders that per node from the grub.cfg
 *     template below, as it does cmdline.txt for Pis — which boots the same kernel8.img and
 *     initramfs8 the Pis use (GRUB's gzio unpacks the gzip'd kernel) with the node's identity.
 *
 * Under proxy DHCP the embedded config gets the master's address filled in as it is served
 * (netboot/tftp/loader-fill.ts): GRUB itself only sees the router's DHCP ACK.
 *
 * Why the embedded config builds the MAC path itself: the TFTP root serves per-node files under
 * a `aa-bb-cc-dd-ee-ff/` prefix (TFTP_PREFIX=2 style), while GRUB's $net_default_mac has colons.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PI_INITRAMFS, PI_KERNEL } from './boot-files.ts';
import { TFTP_SERVER_PLACEHOLDER } from '../../netboot/tftp/loader-fill.ts';
import { run } from './proc.ts';

export const PXE_BIOS_LOADER = 'undionly.kpxe';
export const PXE_X64_UEFI_LOADER = 'ipxe.efi';
export const PXE_ARM64_UEFI_LOADER = 'grubnetaa64.efi';
/** The per-node GRUB config template (netboot fills it for `<mac>/grub.cfg`). */
export const GRUB_NODE_CONFIG = 'grub.cfg';

export type PxeRole =
  /** first file of an x86 PXE client: iPXE */
  | 'ipxe-loader'
  /** first file of an arm64 UEFI PXE client: GRUB */
  | 'grub-loader'
  /** the per-node grub.cfg template */
  | 'grub-config';

export interface PxeBootFile {
  readonly name: string;
  readonly role: PxeRole;
}

/** What build-image adds to the TFTP root for PXE clients, beside piBootLayout(). */
export function pxeBootLayout(): readonly PxeBootFile[] {
  return [
    { name: PXE_BIOS_LOADER, role: 'ipxe-loader' },
    { name: PXE_X64_UEFI_LOADER, role: 'ipxe-loader' },
    { name: PXE_ARM64_UEFI_LOADER, role: 'grub-loader' },
    { name: GRUB_NODE_CONFIG, role: 'grub-config' },
  ];
}

/** GRUB modules of the netboot image: network (efinet, tftp), scripting, the Linux loader, gzip. */
export const GRUB_MODULES = ['efinet', 'tftp', 'net', 'normal', 'configfile', 'linux', 'regexp', 'echo', 'test', 'gzio', 'sleep', 'reboot'];

/**
 * The config baked into grubnetaa64.efi: find this machine's grub.cfg on the TFTP server GRUB
 * came from. Under proxy DHCP GRUB cannot learn that server (its `$net_default_server` is the
 * router's siaddr, or empty: netboot/tftp/loader-fill.ts), so the master fills its own address
 * into TFTP_SERVER_PLACEHOLDER as it serves this file; unfilled (another TFTP server), GRUB
 * keeps `$net_default_server`. The regexp both checks that the fill happened and strips the
 * padding; GRUB's embedded config runs before `normal`, so no `if`.
 */
export function grubEmbeddedConfig(): string {
  return [
    '# picluster GRUB netboot (grub-mkimage -c): per-node config from the TFTP server GRUB came from',
    'set timeout=0',
    'set picluster_server="$net_default_server"',
    `set picluster_filled=${TFTP_SERVER_PLACEHOLDER}`,
    'regexp --set=1:picluster_server \'^([0-9]+[.][0-9]+[.][0-9]+[.][0-9]+)\' "$picluster_filled"',
    'set net_default_server="$picluster_server"',
    'echo "picluster-grub: $net_default_mac from $picluster_server"',
    'regexp --set=1:m1 --set=2:m2 --set=3:m3 --set=4:m4 --set=5:m5 --set=6:m6 \'^(..):(..):(..):(..):(..):(..)$\' "$net_default_mac"',
    'configfile (tftp,$picluster_server)/$m1-$m2-$m3-$m4-$m5-$m6/grub.cfg',
    'echo "picluster-grub: no boot config for $net_default_mac from $picluster_server (unknown or unapproved node?); rebooting in 30 s"',
    'sleep 30',
    'reboot',
    '',
  ].join('\n');
}

/** Kernel consoles for arm64 UEFI machines (qemu virt and most servers: PL011 ttyAMA0; the last is /dev/console). */
export const ARM64_UEFI_CONSOLES = 'console=tty0 console=ttyAMA0,115200';

/** The per-node grub.cfg template; placeholders as cmdline.txt's (see boot-files.ts). */
export function grubNodeConfigTemplate(imageVersion: string, consoles: string = ARM64_UEFI_CONSOLES): string {
  return [
    `# picluster RAM-only boot for arm64 UEFI, image ${imageVersion}`,
    'echo "picluster-grub: loading kernel"',
    `linux (tftp)/${PI_KERNEL} ${consoles} loglevel=4 picluster.dispatcher={{dispatcherUrl}} picluster.name={{nodeName}} picluster.token={{token}}`,
    `initrd (tftp)/${PI_INITRAMFS}`,
    'boot',
    '',
  ].join('\n');
}

export interface PxeSources {
  /** Unpacked `ipxe` deb. */
  readonly ipxeRoot: string;
  /** Unpacked `grub-efi-arm64-bin` deb. */
  readonly grubRoot: string;
  readonly workDir: string;
  readonly imageVersion: string;
}

/** Writes pxeBootLayout() into the TFTP root dir. grub-mkimage output is byte-reproducible. */
export async function layPxeLoaders(dir: string, src: PxeSources): Promise<void> {
  // ipxe.efi is a symlink to /boot/ipxe.efi inside the package: take the file from the tree.
  await copyFile(join(src.ipxeRoot, 'usr', 'lib', 'ipxe', PXE_BIOS_LOADER), join(dir, PXE_BIOS_LOADER));
  await copyFile(join(src.ipxeRoot, 'boot', PXE_X64_UEFI_LOADER), join(dir, PXE_X64_UEFI_LOADER));
  await mkdir(src.workDir, { recursive: true });
  const cfg = join(src.workDir, 'grub-embedded.cfg');
  await writeFile(cfg, grubEmbeddedConfig());
  const modDir = join(src.grubRoot, 'usr', 'lib', 'grub', 'arm64-efi');
  await run('grub-mkimage', ['-O', 'arm64-efi', '-d', modDir, '-p', '(tftp)/', '-c', cfg, '-o', join(dir, PXE_ARM64_UEFI_LOADER), ...GRUB_MODULES], {
    step: 'GRUB netboot image',
    writes: dir,
  });
  await writeFile(join(dir, GRUB_NODE_CONFIG), grubNodeConfigTemplate(src.imageVersion));
}

/** True when data is a gzip stream (the Pi firmware and GRUB both take a gzip'd arm64 kernel). */
export function isGzip(data: Uint8Array): boolean {
  return data.length > 2 && data[0] === 0x1f && data[1] === 0x8b;
}
