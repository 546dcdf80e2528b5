/**
 * Alerts: raised in the store (one open alert per kind and node), logged and emitted once when
 * new. Open alerts are cached by kind and node, so raising one that is already open (the
 * recovery runner does on every tick for each node it cannot recover) writes nothing: at 5,000
 * lost nodes that was thousands of store transactions per second. Every resolve goes through
 * here (master.ts's disk/store watches included), so the cache cannot go stale; a raise that
 * throws caches nothing.
 */
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import type { Alert } from '../store/store.ts';
import type { AlertStore } from './ports.ts';

const keyOf = (kind: string, node: string | undefined): string => `${kind}\u0000${node ?? ''}`;

export class Alerts {
  private readonly open = new Map<string, Alert>();

  constructor(
    private readonly store: AlertStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onRaised: (alert: Alert) => void,
  ) {}

  raise(kind: string, severity: Alert['severity'], message: string, node?: string): Alert {
    const key = keyOf(kind, node);
    const cached = this.open.get(key);
    if (cached) return cached;
    const now = this.clock.now();
    const a = this.store.raiseAlert({ kind, severity, message, at: now, ...(node ? { node } : {}) });
    this.open.set(key, a);
    if (a.raisedAt === now) {
      this.log.warn({ kind, node, message }, 'alert raised');
      this.onRaised(a);
    }
    return a;
  }

  resolve(kind: string, node: string | undefined, at: number): boolean {
    const resolved = this.store.resolveAlert(kind, node, at);
    this.open.delete(keyOf(kind, node));
    return resolved;
  }

  list(open?: boolean): Alert[] {
    return this.store.listAlerts({ ...(open !== undefined ? { open } : {}), limit: 200 });
  }
}
