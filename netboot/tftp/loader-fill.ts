/**
 * The TFTP server's own address, filled into a network boot loader as it is served.
 *
 * Why: under proxy DHCP (the default) the LAN's router hands out the address, and its ACK is
 * what UEFI firmware keeps as the cached DHCP packet; GRUB's efinet reads only that packet
 * (Debian's GRUB 2.06 has no proxy-offer support), so its `$net_default_server` and
 * `$cmdpath` name the router's siaddr — or nothing — never the proxy that served GRUB
 * itself. GRUB then asks the wrong server for its per-node config and the machine loops.
 * So `build-image` embeds a fixed-length placeholder in GRUB's config
 * (image/build/pxe-loaders.ts) and the master, which knows the address it serves TFTP
 * from, overwrites it with that address padded with spaces (same length: nothing else in
 * the EFI image moves). An unfilled image (served by another TFTP server) falls back to
 * `$net_default_server`.
 *
 * Pure: no I/O. The buffer is changed in place.
 */

/** What build-image writes where the server address goes (25 bytes, longer than any IPv4 address). */
export const TFTP_SERVER_PLACEHOLDER = '@@PICLUSTER_TFTP_SERVER@@';

/** Files the fill is applied to (EFI executables: the arm64 GRUB loader). */
export function isFillableLoader(name: string): boolean {
  return name.toLowerCase().endsWith('.efi');
}

/**
 * Overwrites every placeholder in data with address (padded with spaces); returns how many.
 * An address that is not dotted-quad IPv4 is refused (nothing written).
 */
export function fillServerAddress(data: Buffer, address: string): number {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address) || address === '0.0.0.0') return 0;
  const fill = Buffer.from(address.padEnd(TFTP_SERVER_PLACEHOLDER.length, ' '), 'latin1');
  let n = 0;
  for (let at = data.indexOf(TFTP_SERVER_PLACEHOLDER, 0, 'latin1'); at >= 0; at = data.indexOf(TFTP_SERVER_PLACEHOLDER, at + fill.length, 'latin1')) {
    fill.copy(data, at);
    n++;
  }
  return n;
}
