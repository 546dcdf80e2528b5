import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { piCmdlineTemplate, piConfigTxt, PI_MODEL_DTBS } from './boot-files.ts';
import { checkPiBootDir, filesNamedInConfig, fixupFor } from './check.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function makeDir(omit: readonly string[] = []): string {
  dir = mkdtempSync(join(tmpdir(), 'pi-boot-'));
  const files: Record<string, string | Buffer> = {
    'bootcode.bin': 'b',
    'start.elf': 's',
    'fixup.dat': 'f',
    'start_cd.elf': 's',
    'fixup_cd.dat': 'f',
    'start4.elf': 's',
    'fixup4.dat': 'f',
    'kernel8.img': 'k',
    initramfs8: 'i',
    'config.txt': piConfigTxt('test'),
    'cmdline.txt': piCmdlineTemplate(),
  };
  for (const m of PI_MODEL_DTBS) files[m.dtb] = 'd';
  for (const [name, data] of Object.entries(files)) if (!omit.includes(name)) writeFileSync(join(dir, name), data);
  return dir;
}

describe('Pi boot directory check', () => {
  it('pairs start and fixup files by name', () => {
    expect(fixupFor('start.elf')).toBe('fixup.dat');
    expect(fixupFor('start4cd.elf')).toBe('fixup4cd.dat');
    expect(fixupFor('start_cd.elf')).toBe('fixup_cd.dat');
  });

  it('reads the files config.txt names, including comma-separated initramfs lists', () => {
    const named = filesNamedInConfig('[all]\nkernel=k8\ninitramfs a,b followkernel\n[pi4]\ndevice_tree=x.dtb # c\n');
    expect(named).toMatchObject({ kernel: ['k8'], initramfs: ['a', 'b'], dtbs: ['x.dtb'] });
  });

  it('accepts the generated config with every file present', async () => {
    expect(await checkPiBootDir(makeDir())).toEqual([]);
  });

  it.each([
    ['fixup_cd.dat', /no matching fixup_cd.dat/],
    ['bcm2837-rpi-3-b-plus.dtb', /names bcm2837-rpi-3-b-plus.dtb/],
    ['initramfs8', /names initramfs8/],
    ['bootcode.bin', /missing/],
  ])('reports a missing %s', async (omit, message) => {
    const problems = await checkPiBootDir(makeDir([omit]));
    expect(problems.map((p) => p.message).join('\n')).toMatch(message);
  });

  it('reports a file over the Pi 3 TFTP limit', async () => {
    const d = makeDir();
    writeFileSync(join(d, 'kernel8.img'), Buffer.alloc(65535 * 512 + 1));
    expect((await checkPiBootDir(d)).map((p) => p.file)).toEqual(['kernel8.img']);
  });

  it('reports missing mandatory settings and template keys', async () => {
    const d = makeDir();
    writeFileSync(join(d, 'config.txt'), 'kernel=kernel8.img\ninitramfs initramfs8 followkernel\ndevice_tree=bcm2711-rpi-4-b.dtb\n');
    writeFileSync(join(d, 'cmdline.txt'), 'console=ttyS1\n');
    const messages = (await checkPiBootDir(d)).map((p) => p.message);
    expect(messages).toEqual(
      expect.arrayContaining(['arm_64bit=1 missing', 'upstream_kernel=1 missing', 'enable_uart=1 missing', 'template lacks picluster.token={{token}}']),
    );
  });
});
