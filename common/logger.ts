import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { PrettyOptions, build as buildPretty } from 'pino-pretty';

export type { Logger };

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
/** `auto`: pretty when the output is a terminal, JSON otherwise (journald, files, pipes). */
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerConfig {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Default `json`: the agent on a node and library callers never pay for the pretty printer. */
  readonly format?: LogFormat;
}

/** Pure: what `auto` means for an output that is (or is not) a terminal. */
export function resolveLogFormat(format: LogFormat | undefined, isTty: boolean): 'json' | 'pretty' {
  if (format === 'pretty' || format === 'json') return format;
  return format === 'auto' && isTty ? 'pretty' : 'json';
}

/** pino-pretty options for "one line per event": time, level, [component] message, then the fields. */
export function prettyOptions(colorize: boolean): PrettyOptions {
  return {
    colorize,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component',
    messageFormat: '{if component}[{component}] {end}{msg}',
    sync: true,
  };
}

/**
 * The one place loggers are made. Library code receives a `Logger` (usually a child with
 * `{ component }`) and never creates its own. Secrets are redacted by path.
 *
 * Pretty output goes through pino-pretty in-process (synchronous, no worker thread), loaded
 * only when asked for, so the agent bundle in the image does not carry it.
 */
export function createLogger(
  config: LoggerConfig,
  destination?: NodeJS.WritableStream,
  isTty: boolean = destination ? (destination as { isTTY?: boolean }).isTTY === true : process.stdout.isTTY === true,
): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { pid: process.pid },
    redact: {
      paths: ['token', '*.token', 'secret', '*.secret', 'password', '*.password', 'authorization', '*.authorization', 'headers.authorization'],
      censor: '[redacted]',
    },
  };
  if (resolveLogFormat(config.format, isTty) === 'pretty') {
    const require = createRequire(import.meta.url);
    const { build } = require('pino-pretty') as { build: typeof buildPretty };
    const stream = build({ ...prettyOptions(isTty), destination: destination ?? 1 } as PrettyOptions);
    return pino(options, stream as DestinationStream);
  }
  return destination ? pino(options, destination as never) : pino(options);
}

/** A logger that discards everything: the default in unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
