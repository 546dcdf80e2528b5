/**
 * What the boot doctor's catalogue entries are made of (`catalogue.ts`, `catalogue-late.ts`): the
 * entry shape, the boot-file name patterns and small queries over a `BootContext`.
 */
import type { BootEvent } from '../../netboot/boot-event.ts';
import type { BootContext } from './context.ts';

export type Severity = 'fail' | 'warn' | 'info';

export interface CatalogueEntry {
  readonly id: string;
  readonly ref: string;
  readonly severity: Severity;
  readonly title: string;
  readonly fix: string;
  readonly match: (ctx: BootContext) => string | undefined;
}

export const FIRMWARE = /^(bootcode\.bin|start[0-9x]*\.elf|fixup[0-9x]*\.dat)$/;
export const KERNEL = /^(kernel[0-9a-z_-]*\.img|vmlinuz[^/]*|linux[^/]*)$/;
export const INITRAMFS = /^(initramfs[^/]*|initrd[^/]*)$/;
export const DTB = /\.dtb$/;
/** Files that must be loaded whole when a Pi asks for them (a probe of these is not an existence check). */
export const ESSENTIAL = /^(start[0-9]*\.elf|fixup[0-9]*\.dat|config\.txt|cmdline\.txt|kernel[0-9a-z_-]*\.img|initramfs[^/]*|bcm27[0-9]+-rpi-[^/]*\.dtb)$/;
/** 65535 blocks before the Pi 4/5 bootloader of 2025-09-23 (ee#375, ee#720). */
export const MAX_BLOCKS = 65_535;

export const last = <T>(xs: readonly T[]): T | undefined => xs[xs.length - 1];
export const after = (ctx: BootContext, at: number): BootEvent[] => ctx.attempt.filter((e) => e.at > at);
export const ignoredFor = (ctx: BootContext, reasons: RegExp): BootEvent | undefined => ctx.dhcpIgnored.find((e) => reasons.test(e.reason ?? ''));
export const stillBooting = (ctx: BootContext): boolean => {
  const l = last(ctx.attempt);
  return l !== undefined && ctx.input.now - l.at < 60_000;
};
export const kernelLine = (ctx: BootContext, re: RegExp): string | undefined => ctx.kernel.find((l) => re.test(l));
