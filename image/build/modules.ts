/**
 * Picks kernel modules for the initramfs: runs `depmod -b` over the kernel package's tree
 * (the .deb ships no modules.dep), then expands each wanted module to its dependency
 * closure in load order. Pure parsing/ordering is separate from the depmod call for tests.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModuleGroups } from './inputs.ts';
import { run } from './proc.ts';

/** kernel-relative path (kernel/drivers/...ko) → its dependencies' paths, from modules.dep. */
export type ModuleDeps = ReadonlyMap<string, readonly string[]>;

export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');
}

export function parseModulesDep(text: string): ModuleDeps {
  const deps = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    deps.set(
      line.slice(0, i).trim(),
      line
        .slice(i + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
  }
  return deps;
}

export interface ModuleSelection {
  /** group → module paths in load order (dependencies first). */
  readonly groups: Readonly<Record<string, readonly string[]>>;
  /** Every module path to ship (sorted). */
  readonly files: readonly string[];
  /** Wanted names the kernel builds in (nothing to load). */
  readonly builtin: readonly string[];
  /** Wanted names this kernel does not have at all. */
  readonly absent: readonly string[];
}

export function selectModules(deps: ModuleDeps, builtinNames: ReadonlySet<string>, wanted: ModuleGroups): ModuleSelection {
  const byName = new Map<string, string>();
  for (const path of deps.keys()) byName.set(moduleName(path), path);
  const groups: Record<string, string[]> = {};
  const files = new Set<string>();
  const builtin: string[] = [];
  const absent: string[] = [];
  const visit = (path: string, order: string[], seen: Set<string>): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const d of deps.get(path) ?? []) visit(d, order, seen);
    order.push(path);
    files.add(path);
  };
  for (const [group, names] of Object.entries(wanted)) {
    const order: string[] = [];
    const seen = new Set<string>();
    for (const raw of names) {
      const name = raw.replace(/-/g, '_');
      const path = byName.get(name);
      if (path) visit(path, order, seen);
      else if (builtinNames.has(name)) builtin.push(raw);
      else absent.push(raw);
    }
    groups[group] = order;
  }
  return { groups, files: [...files].sort(), builtin, absent };
}

/** Runs depmod -b on an unpacked kernel package and selects the wanted modules. */
export async function selectFromKernelTree(root: string, kver: string, wanted: ModuleGroups): Promise<{ selection: ModuleSelection; modulesDep: string }> {
  const modDir = join(root, 'lib', 'modules', kver);
  await run('depmod', ['-b', root, kver], { step: 'depmod', writes: modDir });
  const depText = await readFile(join(modDir, 'modules.dep'), 'utf8');
  const builtinText = await readFile(join(modDir, 'modules.builtin'), 'utf8').catch(() => '');
  const builtinNames = new Set(builtinText.split('\n').filter(Boolean).map(moduleName));
  const deps = parseModulesDep(depText);
  const selection = selectModules(deps, builtinNames, wanted);
  const keep = new Set(selection.files);
  const modulesDep = [...deps.entries()]
    .filter(([p]) => keep.has(p))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([p, d]) => `${p}:${d.length ? ' ' + d.join(' ') : ''}\n`)
    .join('');
  return { selection, modulesDep };
}
