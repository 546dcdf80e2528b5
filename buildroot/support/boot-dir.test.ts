import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { piCmdlineTemplate, piConfigTxt } from '../../image/build/boot-files.ts';
import { filesNamedInConfig } from '../../image/build/check.ts';
import { piBootLayout } from '../../image/build/pi-boot-layout.ts';
import { loadBoard, parseBoard } from './board.ts';
import { boardBootFiles, boardCmdlineTemplate, boardConfigTxt, firmwareFamily } from './boot-dir.ts';
import { EXTERNAL_DIR } from './state.ts';

const BOARDS = readdirSync(join(EXTERNAL_DIR, 'board', 'picluster')).filter((d) => d !== 'common');
const layout = piBootLayout();
const names = (files: readonly { name: string }[]): string[] => files.map((f) => f.name);
const byRole = (files: readonly { name: string; role: string }[], ...roles: string[]): string[] => names(files.filter((f) => roles.includes(f.role)));

describe("a board's pi/ directory follows build-image's layout", () => {
  it('has the three boards the defconfigs name', () => {
    expect(BOARDS.sort()).toEqual(['rpi3', 'rpi4', 'rpi5']);
  });

  it.each(BOARDS)('%s: the same kernel, initramfs, runtime, config and cmdline files; its own firmware subset and DTBs', async (name) => {
    const board = await loadBoard(EXTERNAL_DIR, name);
    const files = boardBootFiles(board);
    const fixed = ['kernel', 'initramfs', 'runtime-initramfs', 'config', 'cmdline'];
    expect(byRole(files, ...fixed)).toEqual(byRole(layout, ...fixed));
    expect(byRole(files, 'firmware')).toEqual(byRole(layout, 'firmware').filter((f) => board.families.includes(firmwareFamily(f))));
    expect(byRole(files, 'dtb')).toEqual(board.dtbs);
    expect(new Set(names(files)).size).toBe(files.length);
  });

  it("serves Pi 3 and Pi 4 from one directory with exactly build-image's firmware (rpi3)", async () => {
    const board = await loadBoard(EXTERNAL_DIR, 'rpi3');
    expect(byRole(boardBootFiles(board), 'firmware')).toEqual(byRole(layout, 'firmware'));
  });

  it('follows a file build-image adds to the layout without a change here', async () => {
    const board = await loadBoard(EXTERNAL_DIR, 'rpi4');
    const grown = [...layout, { name: 'kernel8.img.gz', role: 'kernel' as const }];
    expect(names(boardBootFiles(board, grown))).toContain('kernel8.img.gz');
  });

  it.each([
    ['bootcode.bin', 'pi3'],
    ['start_cd.elf', 'pi3'],
    ['fixup.dat', 'pi3'],
    ['start4.elf', 'pi4'],
    ['fixup4cd.dat', 'pi4'],
  ])('%s is fetched by the %s family', (file, family) => {
    expect(firmwareFamily(file)).toBe(family);
  });

  it.each(BOARDS)("%s: config.txt has build-image's settings and files, minus upstream_kernel, plus its own DTBs", async (name) => {
    const board = await loadBoard(EXTERNAL_DIR, name);
    const ours = filesNamedInConfig(boardConfigTxt(board, 'v', '2025.02.18'));
    const theirs = filesNamedInConfig(piConfigTxt('v'));
    const settings = new Map(theirs.settings);
    settings.delete('upstream_kernel');
    settings.delete('device_tree');
    const ourSettings = new Map(ours.settings);
    ourSettings.delete('device_tree');
    expect(ourSettings).toEqual(settings);
    expect(ours.kernel).toEqual(theirs.kernel);
    expect(ours.initramfs).toEqual(theirs.initramfs);
    expect(ours.dtbs).toEqual(board.models.map((m) => m.dtb));
  });

  it.each(BOARDS)('%s: cmdline.txt carries the same picluster parameters', async (name) => {
    const board = await loadBoard(EXTERNAL_DIR, name);
    const params = (s: string): string[] =>
      s
        .trim()
        .split(' ')
        .filter((w) => !w.startsWith('console='));
    expect(params(boardCmdlineTemplate(board))).toEqual(params(piCmdlineTemplate()));
    expect(boardCmdlineTemplate(board).split('\n')).toHaveLength(2);
  });
});

describe('board.json', () => {
  it.each([
    ['{', /not JSON/],
    ['{"title":"t","families":["pi9"],"models":[],"dtbs":[],"consoles":"console=tty1"}', /families/],
    [
      '{"title":"t","families":["pi4"],"models":[{"filter":"pi4","dtb":"a.dtb"}],"dtbs":["b.dtb"],"consoles":"console=tty1"}',
      /names a.dtb, which is not in dtbs/,
    ],
    ['{"title":"t","families":["pi4"],"models":[],"dtbs":["b.dtb"],"consoles":"quiet"}', /consoles/],
  ])('rejects %s', (text, message) => {
    expect(() => parseBoard('x', text)).toThrow(message);
  });

  it('refuses a board name that is a path', async () => {
    await expect(loadBoard(EXTERNAL_DIR, '../rpi4')).rejects.toThrow(/bad board name/);
  });
});
