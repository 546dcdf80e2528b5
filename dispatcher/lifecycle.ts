/**
 * NodeLifecycle: the facade over the lifecycle collaborators in ./lifecycle/ — the power
 * service (drivers, journal, reboot, reconcile), the limiter (concurrency, stagger), the
 * recovery runner (ladder + circuit breaker; the pure rule is `domain/recovery.ts`) and alerts.
 * It talks to nodes only through `LifecycleNodes` (lifecycle/ports.ts), what it needs of the
 * Dispatcher, not the class; and to the store only through its power-journal and alert ports.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { LadderState, RecoveryPolicy } from './domain/recovery.ts';
import { Alerts } from './lifecycle/alerts.ts';
import { PowerLimiter } from './lifecycle/limiter.ts';
import type { AlertStore, LifecycleNodes, PowerJournal } from './lifecycle/ports.ts';
import { PowerService } from './lifecycle/power-service.ts';
import { RecoveryRunner } from './lifecycle/recovery-runner.ts';
import type { PowerConfig, PowerDriver } from './power/driver.ts';
import type { Alert, PowerOp } from './store/store.ts';

export type { LifecycleNodes } from './lifecycle/ports.ts';

export interface LifecyclePolicy extends RecoveryPolicy {
  readonly breakerFraction: number;
  readonly breakerMinNodes: number;
  readonly maxConcurrentPowerOps: number;
  readonly staggerMs: number;
}

export interface LifecycleDeps {
  /** What the lifecycle needs of the Dispatcher (the facade satisfies it). */
  readonly dispatcher: LifecycleNodes;
  readonly store: PowerJournal & AlertStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly policy: LifecyclePolicy;
  /** Builds a node's driver; default `createPowerDriver`. */
  readonly driverFor?: (node: { name: string; mac?: string }, config: PowerConfig) => PowerDriver;
  /** Extra environment for command-running drivers. */
  readonly powerEnv?: Readonly<Record<string, string>>;
  /** Waits (stagger); tests inject one that does not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
}

interface LifecycleEvents {
  powerOp: [op: PowerOp];
  alert: [alert: Alert];
  recovery: [info: { node: string; action: string; reason?: string }];
}

export class NodeLifecycle extends EventEmitter<LifecycleEvents> {
  private readonly ladders = new Map<string, LadderState>();
  private readonly alertsOf: Alerts;
  private readonly powerService: PowerService;
  private readonly recovery: RecoveryRunner;
  private readonly clock: Clock;

  constructor(deps: LifecycleDeps) {
    super();
    const { dispatcher: nodes, store, clock, log, policy } = deps;
    this.clock = clock;
    this.alertsOf = new Alerts(store, clock, log, (a) => this.emit('alert', a));
    this.powerService = new PowerService({
      nodes,
      journal: store,
      clock,
      log,
      limiter: new PowerLimiter(policy, clock, deps.sleep ?? ((ms) => delay(ms))),
      alerts: this.alertsOf,
      ladders: this.ladders,
      onPowerOp: (op) => this.emit('powerOp', op),
      ...(deps.driverFor ? { driverFor: deps.driverFor } : {}),
      ...(deps.powerEnv ? { powerEnv: deps.powerEnv } : {}),
    });
    this.recovery = new RecoveryRunner({
      nodes,
      power: this.powerService,
      alerts: this.alertsOf,
      clock,
      log,
      policy,
      ladders: this.ladders,
      onRecovery: (info) => this.emit('recovery', info),
    });
  }

  get breakerIsOpen(): boolean {
    return this.recovery.breakerIsOpen;
  }

  canPowerCycle(name: string): boolean {
    return this.powerService.canPowerCycle(name);
  }

  /** Powers a node on/off or cycles it (journaled, limited, verified); see lifecycle/power-service.ts. */
  power(name: string, action: 'on' | 'off' | 'cycle', actor: string): Promise<PowerOp> {
    return this.powerService.power(name, action, actor);
  }

  /** Graceful reboot through the agent: drain (or kill) running jobs, then `reboot`. */
  reboot(name: string, options: { kill?: boolean }, actor: string): Promise<{ sent: boolean }> {
    return this.powerService.reboot(name, options, actor);
  }

  /** Completes power actions a previous master left unfinished. */
  reconcile(): Promise<number> {
    return this.powerService.reconcile();
  }

  /** One pass of the recovery ladder and the circuit breaker. */
  tick(): void {
    this.recovery.tick();
  }

  /** Never rejects: a refused write is logged. */
  alert(kind: string, severity: Alert['severity'], message: string, node?: string): Promise<Alert | undefined> {
    return this.alertsOf.raise(kind, severity, message, node);
  }

  /** Resolves the open alert of this kind (and node); true if one was open. */
  resolveAlert(kind: string, node?: string): Promise<boolean> {
    return this.alertsOf.resolve(kind, node, this.clock.now());
  }

  alerts(open?: boolean): Promise<Alert[]> {
    return this.alertsOf.list(open);
  }

  powerOps(node?: string, limit?: number): Promise<PowerOp[]> {
    return this.powerService.powerOps(node, limit);
  }

  /** Test/diagnostic view of the ladder. */
  ladderOf(name: string): LadderState | undefined {
    return this.ladders.get(name);
  }
}
