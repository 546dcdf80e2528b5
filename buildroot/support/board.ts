/**
 * A picluster board of this BR2_EXTERNAL tree (board/picluster/<name>/board.json): which Pi
 * families its `pi/` directory serves, the device trees its kernel builds (the Raspberry Pi
 * kernel's own names, e.g. bcm2710-rpi-3-b.dtb, not Debian's mainline bcm2837-*), the
 * config.txt model sections and the kernel consoles. Parsing is pure and validates everything
 * at once.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildStepError } from '../../image/build/errors.ts';

export const PI_FAMILIES = ['pi3', 'pi4', 'pi5'] as const;
export type PiFamily = (typeof PI_FAMILIES)[number];

export interface BoardSpec {
  readonly name: string;
  readonly title: string;
  readonly families: readonly PiFamily[];
  /** config.txt `[filter]` → `device_tree=`; empty lets the firmware choose (Pi 5). */
  readonly models: ReadonlyArray<{ readonly filter: string; readonly dtb: string }>;
  /** Every DTB the kernel build installs (BR2_LINUX_KERNEL_INTREE_DTS_NAME basenames). */
  readonly dtbs: readonly string[];
  /** The console= words of the cmdline.txt template. */
  readonly consoles: string;
}

export function boardDir(externalDir: string, name: string): string {
  return join(externalDir, 'board', 'picluster', name);
}

export function parseBoard(name: string, text: string): BoardSpec {
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    problems.push(`not JSON (${(e as Error).message})`);
  }
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (typeof raw.title !== 'string') problems.push('title must be a string');
  if (!strings(raw.families) || raw.families.length === 0 || !raw.families.every((f) => (PI_FAMILIES as readonly string[]).includes(f))) {
    problems.push(`families must list some of ${PI_FAMILIES.join(', ')}`);
  }
  if (!strings(raw.dtbs) || !raw.dtbs.every((d) => /^[\w.+-]+\.dtb$/.test(d))) problems.push('dtbs must be DTB file names');
  const models = Array.isArray(raw.models) ? (raw.models as Array<Record<string, unknown>>) : undefined;
  if (!models || !models.every((m) => typeof m.filter === 'string' && typeof m.dtb === 'string')) problems.push('models must be { filter, dtb } pairs');
  else if (strings(raw.dtbs)) {
    for (const m of models) if (!raw.dtbs.includes(m.dtb as string)) problems.push(`model ${String(m.filter)} names ${String(m.dtb)}, which is not in dtbs`);
  }
  if (typeof raw.consoles !== 'string' || !/^(console=\S+ ?)+$/.test(raw.consoles)) problems.push('consoles must be console= words');
  if (problems.length) throw new BuildStepError('board description', `board/picluster/${name}/board.json: ${problems.join('; ')}`);
  return Object.freeze({
    name,
    title: raw.title as string,
    families: raw.families as PiFamily[],
    models: (models ?? []).map((m) => ({ filter: m.filter as string, dtb: m.dtb as string })),
    dtbs: raw.dtbs as string[],
    consoles: raw.consoles as string,
  });
}

export async function loadBoard(externalDir: string, name: string): Promise<BoardSpec> {
  if (!/^[\w-]+$/.test(name)) throw new BuildStepError('board description', `bad board name ${JSON.stringify(name)}`);
  const path = join(boardDir(externalDir, name), 'board.json');
  const text = await readFile(path, 'utf8').catch((e: unknown) => {
    throw new BuildStepError('board description', `cannot read ${path}`, { cause: e });
  });
  return parseBoard(name, text);
}
