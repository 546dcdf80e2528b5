/**
 * The last line of "no input ends the process": whatever still escapes a guarded handler
 * (dispatcher/guard.ts) as an uncaught exception or an unhandled promise rejection is logged and
 * counted (`picluster_uncaught_errors_total{kind}`) instead of ending the master and every agent
 * link with it. Installed by `picluster master` only (a library user or a test runner keeps its
 * own policy); `uninstall()` restores Node's default.
 */
import type { Logger } from '../common/logger.ts';

export interface ProcessGuard {
  /** Escapes caught so far. */
  readonly count: () => number;
  uninstall(): void;
}

export function installProcessGuard(log: Logger, onEscape?: (kind: 'exception' | 'rejection', error: unknown) => void): ProcessGuard {
  let count = 0;
  const report = (kind: 'exception' | 'rejection', error: unknown) => {
    count++;
    try {
      log.error({ err: error, kind, total: count }, 'an error escaped every handler; the master keeps running');
      onEscape?.(kind, error);
    } catch {
      /* never throw from here */
    }
  };
  const onException = (e: Error) => report('exception', e);
  const onRejection = (reason: unknown) => report('rejection', reason);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    count: () => count,
    uninstall() {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    },
  };
}
