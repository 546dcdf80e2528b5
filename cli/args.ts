/** Small, strict flag parsing shared by the CLI commands (node:util parseArgs with clear errors). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { bindDashValues } from '../common/argv.ts';
import { PiclusterError } from '../common/errors.ts';

export class UsageError extends PiclusterError {
  readonly code = 'USAGE';
}

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: bindDashValues(argv), options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
