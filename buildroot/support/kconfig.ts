/**
 * Reading Buildroot's Kconfig files (.config and defconfigs): `SYMBOL=value` lines, `# SYMBOL
 * is not set` lines, comments. Pure.
 */

export interface KconfigFile {
  /** symbol → value with the quotes of a string removed (`y`, `42`, `text`); unset symbols are absent. */
  readonly values: ReadonlyMap<string, string>;
  /** Symbols written as `# X is not set`. */
  readonly unset: ReadonlySet<string>;
  /** Lines that are none of the above (a defconfig should have none). */
  readonly malformed: readonly { readonly line: number; readonly text: string }[];
  /** Symbols set more than once. */
  readonly duplicates: readonly string[];
}

const SET = /^(BR2_\w+)=(.*)$/;
const UNSET = /^# (BR2_\w+) is not set$/;

export function parseKconfig(text: string): KconfigFile {
  const values = new Map<string, string>();
  const unset = new Set<string>();
  const malformed: { line: number; text: string }[] = [];
  const duplicates: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const set = SET.exec(line);
    const un = UNSET.exec(line);
    const symbol = set?.[1] ?? un?.[1];
    if (symbol && (values.has(symbol) || unset.has(symbol))) duplicates.push(symbol);
    if (set) values.set(set[1] as string, unquote(set[2] as string));
    else if (un) unset.add(un[1] as string);
    else if (line !== '' && !line.startsWith('#')) malformed.push({ line: i + 1, text: line });
  });
  return { values, unset, malformed, duplicates };
}

function unquote(v: string): string {
  return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1).replace(/\\(["\\])/g, '$1') : v;
}

/** "Buildroot 2025.02.18" from the header Buildroot writes into .config, or undefined. */
export function buildrootVersion(configText: string): string | undefined {
  return /^# Buildroot (\S+) Configuration$/m.exec(configText)?.[1];
}

/** The raspberrypi/linux commit of a `$(call github,raspberrypi,linux,<commit>)/…` kernel location. */
export function kernelCommit(location: string | undefined): string | undefined {
  return /\$\(call github,raspberrypi,linux,([0-9a-f]{40})\)/.exec(location ?? '')?.[1];
}
