import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export interface LoggerConfig {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/**
 * The one place loggers are made. Library code receives a `Logger` (usually a child with
 * `{ component }`) and never creates its own. Secrets are redacted by path.
 */
export function createLogger(config: LoggerConfig, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { pid: process.pid },
    redact: {
      paths: ['token', '*.token', 'secret', '*.secret', 'password', '*.password', 'authorization', '*.authorization', 'headers.authorization'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination as never) : pino(options);
}

/** A logger that discards everything: the default in unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
