/**
 * node:util parseArgs refuses `--token -AbC…` as ambiguous (a value that starts with a dash),
 * and a base64url token starts with `-` one time in 64: a node whose derived token does can
 * never start its agent. Options that hold secrets always take the next argument as their value.
 */
export const DASH_VALUE_OPTIONS = ['token', 'admin-token', 'pin', 'tls-pin'] as const;

/** `--token X` → `--token=X` for the named options, so X may start with a dash. Everything else is left as it is. */
export function bindDashValues(argv: readonly string[], names: readonly string[] = DASH_VALUE_OPTIONS): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a.startsWith('--') && names.includes(a.slice(2)) && i + 1 < argv.length) {
      out.push(`${a}=${argv[++i]!}`);
      continue;
    }
    out.push(a);
  }
  return out;
}
