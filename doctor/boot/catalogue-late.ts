/**
 * The boot doctor's catalogue, after DHCP: the TFTP files (firmware, DTB, kernel, block limits,
 * stalls), the kernel and initramfs, and the agent's first hello. See `catalogue.ts`.
 */
import { baseName, fileOf, loaded, num, prefixOf, seconds, transfers } from './context.ts';
import { FIRMWARE, KERNEL, INITRAMFS, DTB, ESSENTIAL, MAX_BLOCKS, last, after, stillBooting, kernelLine, type CatalogueEntry } from './catalogue-kit.ts';

export const LATE_ENTRIES: readonly CatalogueEntry[] = [
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
