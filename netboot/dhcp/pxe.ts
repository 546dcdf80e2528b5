/**
 * Who is asking: a Raspberry Pi boot ROM/bootloader, a PXE firmware (x86 BIOS, x86-64 UEFI,
 * arm64 UEFI), iPXE, or an ordinary DHCP client. And the PXE vendor options (option 43)
 * we answer with. Pure.
 *
 * Hand-written (not the npm `dhcp` package 0.2.20, which crashes on a Pi's DISCOVER, has no
 * proxy mode and ACKs requests meant for other servers): see codec.ts.
 *
 * Sources: shared/reference/pi-netboot.md (DOC-NET, DOC-EEPROM, dnsmasq rfc2131.c),
 * RFC 4578 (option 93 architecture types), PXE 2.1 spec (option 43 sub-options).
 */
import { encodeEncapsulated } from './codec.ts';
import type { ClientInfo } from './options.ts';

export const DEFAULT_PI_OUIS: readonly string[] = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', '28:cd:c1', 'd8:3a:dd', '2c:cf:67'];

/** Option 60 prefix of every PXE client, Pis included (dnsmasq `is_pxe_client`). */
export const PXE_VENDOR_PREFIX = 'PXEClient';

export type PiModel = 'pi3b' | 'pi3' | 'pi4' | 'pi5' | 'pi';

export interface PiIdentity {
  /** What told us: the MAC OUI and/or the option 97 GUID layout. */
  readonly by: readonly ('oui' | 'guid')[];
  readonly model: PiModel;
  /** 8 lowercase hex, when option 97 carries it. */
  readonly serial?: string;
  readonly guidFormat?: 'pi3b-constant' | 'serial-x4' | 'fourcc';
}

export function ouiOf(mac: string): string {
  return mac.slice(0, 8);
}

export function isPxeClient(info: ClientInfo): boolean {
  return info.vendorClass?.startsWith(PXE_VENDOR_PREFIX) ?? false;
}

/** iPXE identifies itself with user class (77) `iPXE` (dnsmasq `dhcp-userclass=set:ipxe,iPXE`). */
export function isIpxe(info: ClientInfo, userClass: string): boolean {
  return info.userClass?.includes(userClass) ?? false;
}

/**
 * A Pi is a PXE client (option 60) whose MAC OUI is a Raspberry Pi one or whose option 97
 * has a Pi layout. Option 93 is never used: every Pi sends 93 = 0, exactly like an x86
 * BIOS (ee#82/#87, ee#182), and option 60 alone is also what x86 UNDI 2.1 ROMs send.
 */
export function identifyPi(info: ClientInfo, piOuis: readonly string[]): PiIdentity | undefined {
  if (!isPxeClient(info)) return undefined;
  const byOui = piOuis.includes(ouiOf(info.mac));
  const guid = info.guid ? parsePiGuid(info.guid) : undefined;
  if (!byOui && !guid) return undefined;
  const by: ('oui' | 'guid')[] = [];
  if (byOui) by.push('oui');
  if (guid) by.push('guid');
  let model: PiModel = guid?.model ?? 'pi';
  // b8:27:eb is the Pi 3 and earlier generation; a serial-x4 GUID there is a 3B+ ROM or
  // the 3B's bootcode.bin (fw#1362), a Pi 4 with DHCP_OPTION97=0 elsewhere.
  if (guid?.format === 'serial-x4') model = ouiOf(info.mac) === 'b8:27:eb' ? 'pi3' : 'pi4';
  if (!guid && ouiOf(info.mac) === 'b8:27:eb') model = 'pi3';
  const id: { -readonly [K in keyof PiIdentity]: PiIdentity[K] } = { by, model };
  if (guid?.serial) id.serial = guid.serial;
  if (guid) id.guidFormat = guid.format;
  return id;
}

interface PiGuid {
  readonly format: 'pi3b-constant' | 'serial-x4' | 'fourcc';
  readonly model?: PiModel;
  readonly serial?: string;
}

/**
 * Option 97 layouts a Pi sends (always 17 bytes, `00` then 16 bytes):
 * - 3B boot ROM: sixteen `0x44` (DOC-NET "DHCP UUID constant");
 * - 3B+ ROM, bootcode.bin, Pi 4 with DHCP_OPTION97=0: the 32-bit serial little-endian, ×4
 *   (fw#1605: `16 4c 6c b6` ×4 is serial b66c4c16);
 * - Pi 4/5 bootloader default: FourCC `RPi4`/`RPi5` (0x34695052 little-endian), board
 *   revision (4), low 4 bytes of the MAC, serial (4) (DOC-EEPROM DHCP_OPTION97). Raspberry
 *   Pi's cmprovision matches both byte orders of the FourCC, so we do too; the serial is
 *   read in the same byte order as the FourCC [inferred].
 */
export function parsePiGuid(guid: Buffer): PiGuid | undefined {
  if (guid.length !== 17 || guid[0] !== 0) return undefined;
  const body = guid.subarray(1);
  if (body.every((b) => b === 0x44)) return { format: 'pi3b-constant', model: 'pi3b' };
  const fourcc = body.subarray(0, 4).toString('latin1');
  const le = fourcc === 'RPi4' || fourcc === 'RPi5';
  const be = fourcc === '4iPR' || fourcc === '5iPR';
  if (le || be) {
    const model: PiModel = fourcc.includes('5') ? 'pi5' : 'pi4';
    const serial = le ? body.readUInt32LE(12) : body.readUInt32BE(12);
    return { format: 'fourcc', model, serial: serial.toString(16).padStart(8, '0') };
  }
  const first = body.subarray(0, 4);
  if (first.readUInt32LE(0) !== 0 && [4, 8, 12].every((o) => body.subarray(o, o + 4).equals(first))) {
    return { format: 'serial-x4', serial: first.readUInt32LE(0).toString(16).padStart(8, '0') };
  }
  return undefined;
}

/**
 * Option 43 for a Pi, byte for byte what dnsmasq builds for `pxe-service=0,"<menu>"` in
 * proxy mode (rfc2131.c pxe_opts()): sub-option 6 (discovery control) = 3, sub-option 10
 * (prompt) = timeout 0 + "PXE", sub-option 9 (menu) = type 0x0000, length, text; then `ff`.
 * The Pi 4/5 bootloader looks for the PXE_OPTION43 string ("Raspberry Pi Boot") in
 * sub-option 9 and ignores trailing characters; the Pi 3B ROM reportedly needs three
 * trailing spaces ("Raspberry Pi Boot   ", fw#941), hence `menuText` is configurable.
 */
export function piVendorOptions(menuText: string): Buffer {
  const text = Buffer.from(menuText, 'latin1');
  return encodeEncapsulated([
    { code: 6, data: Buffer.from([3]) },
    { code: 10, data: Buffer.from([0, 0x50, 0x58, 0x45]) },
    { code: 9, data: Buffer.concat([Buffer.from([0, 0, text.length]), text]) },
  ]);
}

/**
 * Option 43 for other PXE firmware: discovery control bit 3, "a boot file name is present
 * in the offer: download it, no menu, no boot server discovery" (PXE 2.1 §2.4.2; pixiecore
 * sends the same `06 01 08 ff` to BIOS clients).
 */
export function bootfileVendorOptions(): Buffer {
  return encodeEncapsulated([{ code: 6, data: Buffer.from([8]) }]);
}

/** RFC 4578 §2.1 architecture types we know how to boot. */
export type PxeArch = 'bios' | 'x64-uefi' | 'arm64-uefi';

export function archOf(code: number | undefined): PxeArch | undefined {
  switch (code) {
    case 0:
      return 'bios';
    case 7: // EFI BC (in practice x86-64 UEFI)
    case 9: // EFI x86-64
      return 'x64-uefi';
    case 11: // ARM 64-bit UEFI
      return 'arm64-uefi';
    default:
      return undefined;
  }
}
