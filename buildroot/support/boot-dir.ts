/**
 * The `pi/` directory a board produces, derived from build-image's own layout
 * (image/build/pi-boot-layout.ts): the same kernel, initramfs, runtime-initramfs, config.txt and
 * cmdline.txt names; the firmware files of the Pi families the board serves; and the board's
 * own device trees in place of Debian's mainline ones. Pure: no file is read.
 */
import { piConfigTxt, piCmdlineTemplate } from '../../image/build/boot-files.ts';
import type { PiBootDirExpectation } from '../../image/build/check.ts';
import { piBootLayout, type PiBootFile } from '../../image/build/pi-boot-layout.ts';
import type { BoardSpec, PiFamily } from './board.ts';

/**
 * Which Pi family fetches a firmware file: the Pi 4 family loads start4*.elf / fixup4*.dat,
 * the Pi 3 family bootcode.bin and the other start/fixup pairs; the Pi 5 boots from its
 * EEPROM and fetches none (Raspberry Pi boot documentation, "Boot sequence").
 */
export function firmwareFamily(name: string): PiFamily {
  return /^(start|fixup)4/.test(name) ? 'pi4' : 'pi3';
}

export function boardBootFiles(board: BoardSpec, layout: readonly PiBootFile[] = piBootLayout()): PiBootFile[] {
  const out: PiBootFile[] = [];
  for (const f of layout) {
    if (f.role === 'dtb') continue;
    if (f.role === 'firmware' && !board.families.includes(firmwareFamily(f.name))) continue;
    out.push(f);
  }
  const firstNonFirmware = out.findIndex((f) => f.role !== 'firmware');
  const dtbs = board.dtbs.map((name) => ({ name, role: 'dtb' as const }));
  out.splice(firstNonFirmware < 0 ? out.length : firstNonFirmware, 0, ...dtbs);
  return out;
}

export function boardConfigTxt(board: BoardSpec, imageVersion: string, buildrootVersion: string): string {
  return piConfigTxt(imageVersion, {
    models: board.models,
    upstreamKernel: false,
    generator: `picluster buildroot/ ${board.name}, Buildroot ${buildrootVersion}`,
    origin: 'Raspberry Pi kernel + its own device trees',
  });
}

export function boardCmdlineTemplate(board: BoardSpec): string {
  return piCmdlineTemplate(board.consoles);
}

/** What checkPiBootDir holds the board's directory to. */
export function boardExpectation(board: BoardSpec): PiBootDirExpectation {
  return {
    files: boardBootFiles(board).map((f) => f.name),
    // no upstream_kernel=1: the Raspberry Pi kernel wants the firmware's downstream DT handling
    settings: [
      ['arm_64bit', '1'],
      ['enable_uart', '1'],
    ],
    deviceTree: board.models.length > 0,
  };
}
