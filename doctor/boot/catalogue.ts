/**
 * The boot doctor's catalogue: the well-known ways a netboot fails, each keyed to section 5
 * of the Pi netboot brief (`ref: '§5.N'`, or `§1`/`§2`/`§6` for the section it comes from) and
 * each with what to do. An entry is a pure matcher over a `BootContext`: it returns the
 * evidence (one sentence naming what in the timeline shows it) or undefined. Order matters
 * only for display: the most specific failures first. Grow it here; add a recorded timeline
 * for every new entry to catalogue.test.ts.
 */
import { baseName, fileOf, prefixOf, seconds, transfers } from './context.ts';
import { last, ignoredFor, type CatalogueEntry } from './catalogue-kit.ts';
import { LATE_ENTRIES } from './catalogue-late.ts';

export type { CatalogueEntry, Severity } from './catalogue-kit.ts';

/** The DHCP phase (who answered, whom we ignored and why), then `LATE_ENTRIES`. */
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
  ...LATE_ENTRIES,
];
