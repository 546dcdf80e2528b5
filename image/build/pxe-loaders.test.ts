import { describe, expect, it } from 'vitest';
import { dhcpConfig } from '../../netboot/dhcp/config.ts';
import { fillTemplate, PI_INITRAMFS, PI_KERNEL } from './boot-files.ts';
import { piBootLayout } from './pi-boot-layout.ts';
import { fillServerAddress, TFTP_SERVER_PLACEHOLDER } from '../../netboot/tftp/loader-fill.ts';
import { grubEmbeddedConfig, grubNodeConfigTemplate, isGzip, pxeBootLayout } from './pxe-loaders.ts';

describe('PXE loaders in the TFTP root', () => {
  it('are exactly the files the DHCP defaults name, beside (not among) the Pi files', () => {
    const names = pxeBootLayout().map((f) => f.name);
    const { bios, x64Uefi, arm64Uefi } = dhcpConfig().bootFiles;
    expect(names).toEqual(expect.arrayContaining([bios, x64Uefi, arm64Uefi, 'grub.cfg']));
    const pi = new Set(piBootLayout().map((f) => f.name));
    expect(names.filter((n) => pi.has(n))).toEqual([]);
  });

  it("GRUB's embedded config turns its colon MAC into the TFTP root's per-node prefix", () => {
    const cfg = grubEmbeddedConfig();
    expect(cfg).toContain('"$net_default_mac"');
    expect(cfg).toMatch(/^configfile \(tftp,\$picluster_server\)\/\$m1-\$m2-\$m3-\$m4-\$m5-\$m6\/grub\.cfg$/m);
    // a machine with no per-node config does not sit in GRUB forever
    expect(cfg).toMatch(/^reboot$/m);
  });

  it("asks the server the master filled in (proxy DHCP), else GRUB's $net_default_server", () => {
    const cfg = grubEmbeddedConfig();
    const lines = cfg.split('\n');
    // the placeholder is a bare word of its own line, so a fill padded with spaces stays one word
    expect(lines).toContain(`set picluster_filled=${TFTP_SERVER_PLACEHOLDER}`);
    const filled = Buffer.from(cfg, 'latin1');
    expect(fillServerAddress(filled, '10.213.40.1')).toBe(1);
    expect(filled.toString('latin1')).toMatch(/^set picluster_filled=10\.213\.40\.1 +$/m);
    // fallback first, then the fill's leading dotted quad (the unfilled placeholder does not match)
    const fallback = lines.indexOf('set picluster_server="$net_default_server"');
    const pick = lines.findIndex((l) => l.startsWith('regexp --set=1:picluster_server'));
    expect(fallback).toBeGreaterThanOrEqual(0);
    expect(pick).toBeGreaterThan(fallback);
    const re = new RegExp(/'(.*)'/.exec(lines[pick]!)![1]!);
    expect(re.exec('10.213.40.1      ')?.[1]).toBe('10.213.40.1');
    expect(re.test(TFTP_SERVER_PLACEHOLDER)).toBe(false);
    // the per-node grub.cfg's (tftp)/ paths then use it too
    expect(lines.indexOf('set net_default_server="$picluster_server"')).toBeGreaterThan(pick);
  });

  it('the per-node grub.cfg boots the Pi kernel and initramfs with the node identity on the command line', () => {
    const filled = fillTemplate(grubNodeConfigTemplate('0.1.0+abc'), { dispatcherUrl: 'ws://10.0.0.1:8080/agent', nodeName: 'arm1', token: 't0k' });
    expect(filled).toContain(
      `linux (tftp)/${PI_KERNEL} console=tty0 console=ttyAMA0,115200 loglevel=4 picluster.dispatcher=ws://10.0.0.1:8080/agent picluster.name=arm1 picluster.token=t0k`,
    );
    expect(filled).toContain(`initrd (tftp)/${PI_INITRAMFS}`);
    expect(filled).toMatch(/^boot$/m);
    expect(filled).not.toContain('{{');
  });

  it.each([
    ['gzip', Buffer.from([0x1f, 0x8b, 8, 0]), true],
    ['arm64 Image', Buffer.from('MZ\0\0'), false],
    ['empty', Buffer.alloc(0), false],
  ])('isGzip(%s)', (_n, data, want) => expect(isGzip(data)).toBe(want));
});
