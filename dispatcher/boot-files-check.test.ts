import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { silentLogger } from '../common/logger.ts';
import { dhcpConfig } from '../netboot/dhcp/config.ts';
import { advertisedBootFiles, BootFilesMissingError, missingBootFiles } from './boot-files-check.ts';
import { startMaster } from './master.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const netboot = (root: string) => ({ tftpRoot: join(root, 'pi'), httpRoot: root, dhcp: dhcpConfig() });

describe('boot files a netbooting master advertises', () => {
  it('names every DHCP default boot file, the Pi firmware and what the iPXE and GRUB configs load', () => {
    const paths = advertisedBootFiles(netboot('/srv/img')).map((f) => f.path);
    for (const f of ['undionly.kpxe', 'ipxe.efi', 'grubnetaa64.efi', 'grub.cfg', 'bootcode.bin', 'start4.elf', 'cmdline.txt', 'kernel8.img', 'initramfs8']) {
      expect(paths).toContain(`/srv/img/pi/${f}`);
    }
    for (const f of ['amd64/boot.ipxe', 'amd64/vmlinuz', 'amd64/initramfs.img', 'amd64/runtime.squashfs', 'arm64/runtime.squashfs'])
      expect(paths).toContain(`/srv/img/${f}`);
  });

  it('follows configured boot file names; an operator-supplied arm64 loader needs no grub.cfg', () => {
    const cfg = { ...netboot('/srv/img'), dhcp: dhcpConfig({ bootFiles: { bios: 'my.kpxe', arm64Uefi: 'shim.efi' } }) };
    const paths = advertisedBootFiles(cfg).map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['/srv/img/pi/my.kpxe', '/srv/img/pi/shim.efi', '/srv/img/pi/ipxe.efi']));
    expect(paths).not.toContain('/srv/img/pi/grub.cfg');
    expect(paths).not.toContain('/srv/img/pi/undionly.kpxe');
  });

  it('keeps only the missing ones', () => {
    const have = new Set(advertisedBootFiles(netboot('/x')).map((f) => f.path));
    have.delete('/x/pi/ipxe.efi');
    expect(missingBootFiles(netboot('/x'), (p) => have.has(p)).map((f) => f.path)).toEqual(['/x/pi/ipxe.efi']);
  });

  it('the error names each file and the command that builds it', () => {
    const e = new BootFilesMissingError(advertisedBootFiles(netboot('/x')).filter((f) => f.path.endsWith('ipxe.efi') || f.path.endsWith('boot.ipxe')));
    expect(e.code).toBe('BOOT_FILES_MISSING');
    expect(e.message).toContain('/x/pi/ipxe.efi (x86-64 UEFI PXE boot file');
    expect(e.message).toContain('`npm run build-image -- --arch arm64`');
    expect(e.message).toContain('/x/amd64/boot.ipxe');
    expect(e.message).toContain('`npm run build-image -- --arch amd64`');
  });

  it('startMaster refuses to start with netboot enabled and a boot file missing, and starts once it is there', async () => {
    dir = mkdtempSync(join(tmpdir(), 'picluster-bootcheck-'));
    const root = join(dir, 'img');
    const files = advertisedBootFiles(netboot(root));
    for (const f of files) {
      mkdirSync(dirname(f.path), { recursive: true });
      if (!f.path.endsWith('undionly.kpxe')) writeFileSync(f.path, 'x');
    }
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: join(dir, 'data'),
        'http.host': '127.0.0.1',
        'http.port': 0,
        'inventory.path': join(dir, 'none.yaml'),
        'netboot.enabled': true,
        'netboot.interface': 'lo',
        'netboot.serverAddress': '127.0.0.1',
        'netboot.tftpRoot': join(root, 'pi'),
        'netboot.httpRoot': root,
        'netboot.tftp.port': 0,
        'netboot.dhcp.port': 0,
        'netboot.dhcp.pxePort': null,
      },
    });
    const refused = await startMaster(config, { log: silentLogger() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(BootFilesMissingError);
    expect((refused as Error).message).toContain(join(root, 'pi', 'undionly.kpxe'));
    writeFileSync(join(root, 'pi', 'undionly.kpxe'), 'x');
    const master = await startMaster(config, { log: silentLogger() });
    await master.close();
  });
});
