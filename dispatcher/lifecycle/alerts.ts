/** Alerts: raised in the store (one open alert per kind and node), logged and emitted once when new. */
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import type { Alert } from '../store/store.ts';
import type { AlertStore } from './ports.ts';

export class Alerts {
  constructor(
    private readonly store: AlertStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onRaised: (alert: Alert) => void,
  ) {}

  raise(kind: string, severity: Alert['severity'], message: string, node?: string): Alert {
    const a = this.store.raiseAlert({ kind, severity, message, at: this.clock.now(), ...(node ? { node } : {}) });
    if (a.raisedAt === this.clock.now()) {
      this.log.warn({ kind, node, message }, 'alert raised');
      this.onRaised(a);
    }
    return a;
  }

  resolve(kind: string, node: string | undefined, at: number): boolean {
    return this.store.resolveAlert(kind, node, at);
  }

  list(open?: boolean): Alert[] {
    return this.store.listAlerts({ ...(open !== undefined ? { open } : {}), limit: 200 });
  }
}
