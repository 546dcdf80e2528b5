/**
 * The boot doctor's catalogue: the well-known ways a netboot fails, each keyed to section 5
 * of the Pi netboot brief (`ref: '§5.N'`, or `§1`/`§2`/`§6` for the section it comes from) and
 * each with what to do. An entry is a pure matcher over a `BootContext`: it returns the
 * evidence (one sentence naming what in the timeline shows it) or undefined. Order matters
 * only for display: the most specific failures first. Grow it here; add a recorded timeline
 * for every new entry to catalogue.test.ts.
 */
import type { BootEvent } from '../../netboot/boot-event.ts';
import { baseName, fileOf, loaded, num, prefixOf, seconds, transfers, type BootContext } from './context.ts';

export type Severity = 'fail' | 'warn' | 'info';

export interface CatalogueEntry {
  readonly id: string;
  readonly ref: string;
  readonly severity: Severity;
  readonly title: string;
  readonly fix: string;
  readonly match: (ctx: BootContext) => string | undefined;
}

const FIRMWARE = /^(bootcode\.bin|start[0-9x]*\.elf|fixup[0-9x]*\.dat)$/;
const KERNEL = /^(kernel[0-9a-z_-]*\.img|vmlinuz[^/]*|linux[^/]*)$/;
const INITRAMFS = /^(initramfs[^/]*|initrd[^/]*)$/;
const DTB = /\.dtb$/;
/** Files that must be loaded whole when a Pi asks for them (a probe of these is not an existence check). */
const ESSENTIAL = /^(start[0-9]*\.elf|fixup[0-9]*\.dat|config\.txt|cmdline\.txt|kernel[0-9a-z_-]*\.img|initramfs[^/]*|bcm27[0-9]+-rpi-[^/]*\.dtb)$/;
/** 65535 blocks before the Pi 4/5 bootloader of 2025-09-23 (ee#375, ee#720). */
const MAX_BLOCKS = 65_535;

const last = <T>(xs: readonly T[]): T | undefined => xs[xs.length - 1];
const after = (ctx: BootContext, at: number): BootEvent[] => ctx.attempt.filter((e) => e.at > at);
const ignoredFor = (ctx: BootContext, reasons: RegExp): BootEvent | undefined => ctx.dhcpIgnored.find((e) => reasons.test(e.reason ?? ''));
const stillBooting = (ctx: BootContext): boolean => {
  const l = last(ctx.attempt);
  return l !== undefined && ctx.input.now - l.at < 60_000;
};
const kernelLine = (ctx: BootContext, re: RegExp): string | undefined => ctx.kernel.find((l) => re.test(l));

export const CATALOGUE: readonly CatalogueEntry[] = [
  {
    id: 'no-boot-events',
    ref: '§5.2',
    severity: 'fail',
    title: 'No DISCOVER seen from this node',
    fix:
      'Check cable and switch port (a green link LED), and that the master listens on that segment (`picluster doctor`). ' +
      'Pi 3B: netboot needs the OTP bit (`program_usb_boot_mode=1` once from an SD card; `vcgencmd otp_dump | grep 17:` must say 3020000a; the 3B+ has it). ' +
      'Pi 4/5: the EEPROM BOOT_ORDER must include 2 (network), e.g. `BOOT_ORDER=0xf21` via `rpi-eeprom-config --edit`. Check the MAC in the inventory.',
    match: (ctx) => (ctx.all.length === 0 && !ctx.node.connected ? `no DHCP, TFTP or agent event has ever been recorded for ${ctx.node.name}` : undefined),
  },
  {
    id: 'unknown-client',
    ref: '§5.12',
    severity: 'fail',
    title: 'DISCOVER ignored: the MAC is not in the inventory',
    fix: 'Add the node to inventory/nodes.yaml with this MAC (or set netboot.enrollment: true and approve it). Newer Pis use new OUIs (2c:cf:67, 28:cd:c1, d8:3a:dd).',
    match: (ctx) => {
      const e = ignoredFor(ctx, /^unknown-client$/);
      return e ? `DHCP from ${e.mac ?? 'this node'} was ignored as unknown-client` : undefined;
    },
  },
  {
    id: 'pending-approval',
    ref: '§2',
    severity: 'fail',
    title: 'DISCOVER ignored: the node waits for approval',
    fix: 'Approve it: `picluster approve <pending-name> --name <node>` (or in the UI under Manage).',
    match: (ctx) => {
      const e = ignoredFor(ctx, /pending-approval/);
      return e ? `DHCP was ignored (${e.reason})` : undefined;
    },
  },
  {
    id: 'unsupported-arch',
    ref: '§2',
    severity: 'fail',
    title: 'DISCOVER ignored: client architecture not served',
    fix: 'The image has no boot path for this client architecture (option 93). Build the matching image (`npm run build-image`) or boot it in legacy BIOS/UEFI mode the image supports.',
    match: (ctx) => {
      const e = ignoredFor(ctx, /^(unsupported-arch|no-client-arch|not-pxe-client)$/);
      return e ? `DHCP was ignored (${e.reason}${e.detail?.arch !== undefined ? `, arch ${String(e.detail.arch)}` : ''})` : undefined;
    },
  },
  {
    id: 'relayed',
    ref: '§5.6',
    severity: 'fail',
    title: 'DISCOVER arrived through a DHCP relay',
    fix: 'Pi 3 ROMs check hops and early Pi 4 bootloaders do not support relays: put the master on the nodes’ L2 segment (or run `picluster netboot` there).',
    match: (ctx) => (ignoredFor(ctx, /^relayed$/) ? 'a DHCP packet with giaddr set was ignored (relayed)' : undefined),
  },
  {
    id: 'pool-exhausted',
    ref: '§2',
    severity: 'fail',
    title: 'Full DHCP: no address left to lease',
    fix: 'Widen netboot.dhcp.full.range or shorten leaseTimeSec; or use proxy mode beside your router.',
    match: (ctx) => (ignoredFor(ctx, /^(pool-exhausted|no-lease)$/) ? 'the DHCP server had no free lease for this node' : undefined),
  },
  {
    id: 'discover-late',
    ref: '§5.2',
    severity: 'warn',
    title: 'First DISCOVER came late after power-on (switch port slow to forward)',
    fix: 'Enable portfast / edge port (or disable STP) on the switch ports of the nodes: the Pi ROM gives up before a 30 s STP listening phase ends.',
    match: (ctx) => {
      if (ctx.poweredOnAt === undefined) return undefined;
      const first = ctx.all.find((e) => e.at >= ctx.poweredOnAt! && (e.kind === 'dhcp-discover' || e.kind === 'dhcp-ignored'));
      const lag = first ? first.at - ctx.poweredOnAt : undefined;
      return lag !== undefined && lag >= 20_000 ? `first DISCOVER ${seconds(lag)} after power-on` : undefined;
    },
  },
  {
    id: 'offer-ignored',
    ref: '§5.1',
    severity: 'fail',
    title: 'OFFER sent but the node never asked for a file',
    fix:
      'Another DHCP/PXE server may answer first with a boot offer the Pi takes (run `picluster doctor`: it lists who answers a PXE DISCOVER; switch off PXE options on the router). ' +
      'In proxy mode the Pi also needs its address from a real DHCP server on the LAN; with none, use netboot.mode: full.',
    match: (ctx) => {
      if (ctx.dhcpAnswered.length < 3 || ctx.tftp.length > 0 || ctx.http.length > 0 || ctx.hello) return undefined;
      const span = last(ctx.dhcpAnswered)!.at - ctx.dhcpAnswered[0]!.at;
      return `${ctx.dhcpAnswered.length} DISCOVERs answered over ${seconds(span)} and no TFTP request followed`;
    },
  },
  {
    id: 'discover-gave-up',
    ref: '§5.2',
    severity: 'fail',
    title: 'Pi 3 stopped sending DISCOVERs',
    fix: 'The Pi 3 ROM tries about 5 times and then stops until power-cycled: enable portfast on the switch port, check the OTP bit, then power-cycle.',
    match: (ctx) => {
      if (ctx.family !== 'pi3' || ctx.tftp.length > 0 || ctx.hello || ctx.dhcpAnswered.length === 0 || ctx.dhcpAnswered.length > 5) return undefined;
      const quiet = ctx.input.now - last(ctx.attempt)!.at;
      return quiet >= 60_000 ? `${ctx.dhcpAnswered.length} DISCOVER(s), then nothing for ${seconds(quiet)}` : undefined;
    },
  },
  {
    id: 'dhcp-race-loop',
    ref: '§5.4',
    severity: 'warn',
    title: 'Pi 3 restarts DHCP after fetching bootcode.bin (reply race)',
    fix: 'The proxy reply reached the ROM before the router’s: set netboot.dhcp.replyDelayMs: { "b8:27:eb": 1000 } (fw#862).',
    match: (ctx) => {
      if (ctx.family !== 'pi3') return undefined;
      const boots = ctx.all.filter((e) => e.kind === 'tftp-transfer' && baseName(fileOf(e)) === 'bootcode.bin');
      const starts = ctx.all.filter((e) => e.kind === 'tftp-transfer' && /^start[0-9]*\.elf$/.test(baseName(fileOf(e))));
      return boots.length >= 3 && starts.length === 0 ? `bootcode.bin was fetched ${boots.length} times and start.elf never` : undefined;
    },
  },
  {
    id: 'serial-dir-mismatch',
    ref: '§5.13',
    severity: 'fail',
    title: 'The Pi asks for another serial directory than the inventory says',
    fix: 'Put the Pi’s serial in the inventory: the low 8 hex digits of "Serial" in /proc/cpuinfo (a Pi 5’s high digits vary; only 8 count).',
    match: (ctx) => {
      const serial = ctx.node.serial?.toLowerCase();
      if (!serial) return undefined;
      const other = ctx.tftp.map((e) => prefixOf(fileOf(e))).find((p) => p !== undefined && /^[0-9a-f]{8}$/i.test(p) && p.toLowerCase() !== serial);
      return other ? `requests go to ${other}/ but the inventory serial is ${serial}` : undefined;
    },
  },
  {
    id: 'mac-prefix',
    ref: '§5.13',
    severity: 'warn',
    title: 'The Pi uses its MAC as TFTP directory (TFTP_PREFIX=2)',
    fix: 'Set TFTP_PREFIX=0 in the EEPROM config (`rpi-eeprom-config --edit`) so requests carry the serial picluster serves per-node files under.',
    match: (ctx) => {
      const p = ctx.tftp.map((e) => prefixOf(fileOf(e))).find((x) => x !== undefined && x.includes('-'));
      return p ? `requests go to ${p}/` : undefined;
    },
  },
  {
    id: 'no-serial-prefix',
    ref: '§5.13',
    severity: 'warn',
    title: 'Files fetched without the serial prefix: per-node files not used',
    fix: 'The prefix is dropped when <serial>/start4.elf (Pi 4) or <serial>/config.txt (Pi 5) is not found: check the serial in the inventory, so the per-node directory exists.',
    match: (ctx) => {
      if (ctx.family !== 'pi4' && ctx.family !== 'pi5') return undefined;
      const probed = ctx.tftp.find((e) => prefixOf(fileOf(e)) !== undefined && e.outcome === 'not-found');
      const cmdline = transfers(ctx, /^cmdline\.txt$/, 'complete');
      return probed && cmdline.length && cmdline.every((e) => prefixOf(fileOf(e)) === undefined)
        ? `${fileOf(probed)} was not found and cmdline.txt came from the shared root`
        : undefined;
    },
  },
  {
    id: 'missing-firmware',
    ref: '§1.3',
    severity: 'fail',
    title: 'Firmware file missing from the image',
    fix: 'The TFTP root lacks the Pi firmware: run `npm run build-image` (or point netboot.tftpRoot at image/dist/pi) and check with `picluster doctor` (image manifest).',
    match: (ctx) => {
      const missing = ctx.tftp.filter((e) => e.outcome === 'not-found' && FIRMWARE.test(baseName(fileOf(e))) && prefixOf(fileOf(e)) === undefined);
      const names = [...new Set(missing.map((e) => baseName(fileOf(e))))].filter((f) => !loaded(ctx, new RegExp(`^${f.replace(/\./g, '\\.')}$`)));
      return names.length ? `not found: ${names.join(', ')}` : undefined;
    },
  },
  {
    id: 'missing-dtb',
    ref: '§1.3',
    severity: 'fail',
    title: 'No device tree for this model',
    fix: 'The image has no DTB for this board (bcm2710-rpi-3-b[-plus].dtb, bcm2711-rpi-4-b.dtb, bcm2712-rpi-5-b.dtb): rebuild the image with this model enabled.',
    match: (ctx) => {
      const missing = transfers(ctx, DTB, 'not-found');
      return missing.length && !loaded(ctx, DTB) ? `not found: ${[...new Set(missing.map((e) => baseName(fileOf(e))))].join(', ')}` : undefined;
    },
  },
  {
    id: 'missing-kernel',
    ref: '§1.3',
    severity: 'fail',
    title: 'Kernel not found',
    fix: 'config.txt names a kernel the TFTP root does not hold: rebuild the image (`npm run build-image`) and check kernel= in config.txt.',
    match: (ctx) => {
      const missing = transfers(ctx, KERNEL, 'not-found');
      return missing.length && !loaded(ctx, KERNEL) && loaded(ctx, /^config\.txt$/)
        ? `not found: ${[...new Set(missing.map((e) => baseName(fileOf(e))))].join(', ')}`
        : undefined;
    },
  },
  {
    id: 'tftp-block-limit',
    ref: '§5.9',
    severity: 'fail',
    title: 'File too big for the bootloader’s TFTP (65535-block limit)',
    fix: 'Bootloaders before 2025-09-23 stop at block 65535 (33.5 MB at 512-byte blocks, 96 MB at 1468): keep kernel and initramfs smaller (the runtime comes over HTTP), or update the EEPROM.',
    match: (ctx) => {
      const e = ctx.tftp.find((t) => {
        const size = num(t, 'sizeBytes');
        const blk = num(t, 'blksize') ?? 512;
        return size !== undefined && size > MAX_BLOCKS * blk && t.outcome !== 'complete' && t.outcome !== 'probe';
      });
      return e
        ? `${fileOf(e)} is ${num(e, 'sizeBytes')} bytes, over ${MAX_BLOCKS} × ${num(e, 'blksize') ?? 512}-byte blocks, and ended ${e.outcome}`
        : undefined;
    },
  },
  {
    id: 'tftp-stall',
    ref: '§5.9',
    severity: 'fail',
    title: 'TFTP transfer stalled',
    fix: 'The node stopped ACKing mid-file: check the link (cable, switch errors, `ip -s link`), Wi-Fi bridges and loss; on a Pi 4/5 raise TFTP_FILE_TIMEOUT for large initramfs files.',
    match: (ctx) => {
      const e = ctx.tftp.find((t) => t.outcome === 'timeout' && (num(t, 'bytes') ?? 0) > 0);
      if (!e) return undefined;
      const blk = num(e, 'blksize') ?? 512;
      const block = Math.floor((num(e, 'bytes') ?? 0) / blk);
      const total = Math.ceil((num(e, 'sizeBytes') ?? 0) / blk);
      return `${fileOf(e)} stopped at block ${block} of ${total} (${e.reason ?? 'timeout'})`;
    },
  },
  {
    id: 'tftp-aborted',
    ref: '§5.5',
    severity: 'warn',
    title: 'The node aborted a transfer mid-file',
    fix: 'A Pi 3B that aborts mid-transfer often lost ARP for the server: keep the master on the same subnet, without a second address on the boot interface.',
    match: (ctx) => {
      const e = ctx.tftp.find((t) => t.outcome === 'client-error' && (num(t, 'bytes') ?? 0) > 4 * (num(t, 'blksize') ?? 512));
      return e ? `${fileOf(e)} aborted by the client after ${num(e, 'bytes')} bytes (${e.reason ?? 'error'})` : undefined;
    },
  },
  {
    id: 'essential-probe-only',
    ref: '§5.8',
    severity: 'fail',
    title: 'A file the node needs was only probed, never loaded',
    fix: 'An "Early terminate" is a normal existence probe, but this file is never loaded afterwards: check the TFTP server answers with OACK and that the file is valid (rebuild the image).',
    match: (ctx) => {
      if (ctx.hello || stillBooting(ctx)) return undefined;
      const e = ctx.tftp.find((t) => {
        const f = baseName(fileOf(t));
        return (
          t.outcome === 'probe' &&
          /^(kernel[0-9a-z_-]*\.img|initramfs[^/]*|start[0-9]*\.elf)$/.test(f) &&
          ESSENTIAL.test(f) &&
          !loaded(ctx, new RegExp(`^${f.replace(/\./g, '\\.')}$`))
        );
      });
      return e ? `${fileOf(e)} ended after the first block and was not fetched again` : undefined;
    },
  },
  {
    id: 'config-over-4k',
    ref: '§5.7',
    severity: 'warn',
    title: 'config.txt is over 4 KB: settings past 0x1000 are ignored',
    fix: 'Network-boot firmware ignores config.txt content after the first 4096 bytes (fw#1575): trim comments or move settings up.',
    match: (ctx) => {
      const e = transfers(ctx, /^config\.txt$/, 'complete').find((t) => (num(t, 'sizeBytes') ?? 0) > 4096);
      return e ? `${fileOf(e)} is ${num(e, 'sizeBytes')} bytes` : undefined;
    },
  },
  {
    id: 'fixup-mismatch',
    ref: '§5.10',
    severity: 'warn',
    title: 'start.elf loaded without its fixup.dat: the ARM sees 128 MB',
    fix: 'Serve start*.elf and fixup*.dat as a matched pair from the same firmware release (rebuild the image).',
    match: (ctx) => {
      if (ctx.family !== 'pi3' && ctx.family !== 'pi4') return undefined;
      const start = transfers(ctx, /^start[0-9]*\.elf$/, 'complete')[0];
      if (!start || !loaded(ctx, KERNEL)) return undefined;
      return loaded(ctx, /^fixup[0-9]*\.dat$/) ? undefined : `${fileOf(start)} was loaded, no fixup*.dat was`;
    },
  },
  {
    id: 'kernel-then-silence',
    ref: '§6',
    severity: 'fail',
    title: 'Firmware loaded the kernel, then nothing: firmware too old for the kernel format',
    fix: 'The firmware did not start the kernel or fetch the initramfs: update the Pi 4/5 EEPROM (`rpi-eeprom-update -a`), serve the firmware the image ships, and check kernel= and initramfs … followkernel in config.txt. Watch the HDMI/serial console.',
    match: (ctx) => {
      if (ctx.hello || ctx.kernel.length) return undefined;
      const k = transfers(ctx, KERNEL, 'complete').at(-1);
      if (!k || loaded(ctx, INITRAMFS) || ctx.input.now - k.at < ctx.agentTimeoutMs) return undefined;
      return after(ctx, k.at).some((e) => e.kind === 'tftp-transfer' || e.kind === 'http-fetch')
        ? undefined
        : `${fileOf(k)} loaded, no initramfs requested and nothing for ${seconds(ctx.input.now - k.at)}`;
    },
  },
  {
    id: 'initramfs-truncated',
    ref: '§5.9',
    severity: 'fail',
    title: 'Kernel could not unpack the initramfs',
    fix: 'The initramfs was truncated or does not fit in RAM next to its unpacked copy: keep it small (the runtime comes over HTTP), check gpu_mem, and on a 3B+ the start.elf version (fw#1526).',
    match: (ctx) => {
      const l = kernelLine(ctx, /unknown-block\(0,0\)|RAMDISK: incomplete write|Initramfs unpacking failed|junk in compressed archive/i);
      return l ? `kernel: ${l}` : undefined;
    },
  },
  {
    id: 'kernel-oom',
    ref: '§6',
    severity: 'fail',
    title: 'Out of memory while booting',
    fix: 'RAM is too small for this image on this model: a smaller initramfs, or less gpu_mem; a 1 GB Pi 3 needs compressed + unpacked initramfs to fit.',
    match: (ctx) => {
      const l = kernelLine(ctx, /Out of memory|oom-kill|Kernel panic.*not syncing: (System is deadlocked on memory|Out of memory)/i);
      return l ? `kernel: ${l}` : undefined;
    },
  },
  {
    id: 'token-refused',
    ref: '§Security',
    severity: 'fail',
    title: 'The agent started but the master refused it',
    fix: 'BAD_TOKEN: the node booted a cmdline.txt from another cluster secret (stale per-node files or a copied image): let picluster serve cmdline.txt, reboot. NOT_APPROVED: approve it. NODE_REMOVED: add it back. PROTOCOL_VERSION: rebuild the image.',
    match: (ctx) => {
      const r = ctx.input.refusal;
      if (!r || (ctx.hello && ctx.hello.at > r.at)) return undefined;
      return `agent hello refused: ${r.code} (${r.message})`;
    },
  },
  {
    id: 'no-agent',
    ref: '§6',
    severity: 'fail',
    title: 'Boot files loaded, but no agent connected',
    fix: 'The kernel or /init stopped before the agent: watch the HDMI/serial console (console=serial0,115200), check picluster.dispatcher= in cmdline.txt reaches the master (firewall on the HTTP port), and the agent’s kernel log below.',
    match: (ctx) => {
      if (ctx.hello || ctx.input.refusal || ctx.node.connected) return undefined;
      const fetched = ctx.attempt.filter(
        (e) => (e.kind === 'tftp-transfer' && e.outcome === 'complete') || (e.kind === 'http-fetch' && e.outcome === 'complete'),
      );
      const lastFile = last(fetched);
      if (!lastFile || !(loaded(ctx, INITRAMFS) || ctx.http.length > 0)) return undefined;
      const quiet = ctx.input.now - lastFile.at;
      return quiet >= ctx.agentTimeoutMs ? `last file ${fileOf(lastFile)} ${seconds(quiet)} ago, no agent hello since` : undefined;
    },
  },
  {
    id: 'warm-reboot-no-netboot',
    ref: '§5.11',
    severity: 'warn',
    title: 'A reboot did not netboot again',
    fix: 'Some Pi 4 (Linux 5.16+) and 3B+ do not netboot after a warm reboot (PHY/bootloader): power-cycle it, give it a power driver so recovery can, or update the EEPROM.',
    match: (ctx) => {
      const at = ctx.rebootAt;
      if (at === undefined || ctx.node.connected || ctx.input.now - at < ctx.agentTimeoutMs) return undefined;
      return ctx.all.some((e) => e.at > at) ? undefined : `reboot ${seconds(ctx.input.now - at)} ago, no DHCP since`;
    },
  },
  {
    id: 'duplicate-ip',
    ref: '§5.14',
    severity: 'info',
    title: 'Pi 3 ROM takes an address without DHCPREQUEST',
    fix: 'The Pi 3 ROM and bootcode.bin never send REQUEST, so the router may hand the same address twice: give nodes fixed leases (or use netboot.mode: full).',
    match: (ctx) => {
      if (ctx.family !== 'pi3') return undefined;
      const ips = new Set(ctx.tftp.map((e) => e.ip).filter(Boolean));
      return ips.size > 1 ? `TFTP came from ${ips.size} addresses in one boot: ${[...ips].join(', ')}` : undefined;
    },
  },
];
