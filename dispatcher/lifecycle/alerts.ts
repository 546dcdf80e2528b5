/**
 * Alerts: raised in the store (one open alert per kind and node), logged and emitted once when
 * new. Open alerts are cached by kind and node, so raising one that is already open (the
 * recovery runner does on every tick for each node it cannot recover) writes nothing: at 5,000
 * lost nodes that was thousands of store transactions per second. Every resolve goes through
 * here (master.ts's disk/store watches included), so the cache cannot go stale; a raise that
 * fails caches nothing (it is logged, and the raise resolves undefined). Alert writes run one
 * after another, so a resolve never overtakes the raise before it.
 */
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import type { Alert } from '../store/store.ts';
import type { AlertStore } from './ports.ts';

const keyOf = (kind: string, node: string | undefined): string => `${kind}\u0000${node ?? ''}`;

export class Alerts {
  private readonly open = new Map<string, Promise<Alert | undefined>>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: AlertStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly onRaised: (alert: Alert) => void,
  ) {}

  private inOrder<T>(write: () => Promise<T>): Promise<T> {
    const p = this.tail.then(write);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Never rejects: a store that refuses the write is logged (and nothing is cached). */
  raise(kind: string, severity: Alert['severity'], message: string, node?: string): Promise<Alert | undefined> {
    const key = keyOf(kind, node);
    const cached = this.open.get(key);
    if (cached) return cached;
    const now = this.clock.now();
    const raised = this.inOrder(() => this.store.raiseAlert({ kind, severity, message, at: now, ...(node ? { node } : {}) })).then(
      (a) => {
        if (a.raisedAt === now) {
          this.log.warn({ kind, node, message }, 'alert raised');
          this.onRaised(a);
        }
        return a;
      },
      (e: unknown) => {
        if (this.open.get(key) === raised) this.open.delete(key);
        this.log.error({ err: e, kind, node }, 'could not record the alert (the store refuses writes)');
        return undefined;
      },
    );
    this.open.set(key, raised);
    return raised;
  }

  resolve(kind: string, node: string | undefined, at: number): Promise<boolean> {
    this.open.delete(keyOf(kind, node));
    return this.inOrder(() => this.store.resolveAlert(kind, node, at));
  }

  async list(open?: boolean): Promise<Alert[]> {
    await this.tail;
    return this.store.listAlerts({ ...(open !== undefined ? { open } : {}), limit: 200 });
  }
}
