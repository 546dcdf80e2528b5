/**
 * NodeLifecycle: power actions through the nodes' drivers, journaled in the store before
 * they are sent and completed after verification; the recovery ladder for lost nodes (the
 * pure rule is `domain/recovery.ts`); the cluster-wide limits (concurrent power operations,
 * staggered power-on, circuit breaker); alerts. It talks to nodes only through the
 * Dispatcher's public methods.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../common/clock.ts';
import { PiclusterError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Dispatcher } from './dispatcher.ts';
import { breakerOpen, decideRecovery, startLadder, type LadderState, type RecoveryPolicy } from './domain/recovery.ts';
import { createPowerDriver, type PowerConfig, type PowerDriver, type PowerResult } from './power/driver.ts';
import type { Alert, PowerOp, PowerOpAction, Store } from './store/store.ts';

export class PowerNotConfiguredError extends PiclusterError {
  readonly code = 'CONFLICT';
  constructor(node: string) {
    super(`node '${node}' has no power driver configured (inventory power: { driver: ... })`);
  }
}

export class PowerBusyError extends PiclusterError {
  readonly code = 'CONFLICT';
  constructor(node: string) {
    super(`a power operation on node '${node}' is already under way`);
  }
}

export interface LifecyclePolicy extends RecoveryPolicy {
  readonly breakerFraction: number;
  readonly breakerMinNodes: number;
  readonly maxConcurrentPowerOps: number;
  readonly staggerMs: number;
}

export interface LifecycleDeps {
  readonly dispatcher: Dispatcher;
  readonly store: Store;
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
  private readonly lastHelloAt = new Map<string, number>();
  private readonly lastBootAt = new Map<string, number>();
  private readonly drivers = new Map<string, { key: string; driver: PowerDriver }>();
  private readonly inFlight = new Set<string>();
  private readonly waiters: (() => void)[] = [];
  private active = 0;
  private lastPowerOnAt = 0;
  private breaker = false;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: LifecycleDeps) {
    super();
    this.sleep = deps.sleep ?? ((ms) => delay(ms));
    deps.dispatcher.on('bootEvent', (e) => {
      if (!e.node) return;
      if (e.kind === 'agent-hello') this.lastHelloAt.set(e.node, e.at);
      else if (e.kind === 'dhcp-discover' || e.kind === 'dhcp-ack' || e.kind === 'tftp-transfer' || e.kind === 'http-fetch') this.lastBootAt.set(e.node, e.at);
    });
  }

  get breakerIsOpen(): boolean {
    return this.breaker;
  }

  // ── power ────────────────────────────────────────────────────────────────────────────

  private driver(name: string): PowerDriver | undefined {
    const cfg = this.deps.dispatcher.nodePowerConfig(name);
    if (!cfg.power || typeof cfg.power.driver !== 'string') return undefined;
    const key = JSON.stringify(cfg.power);
    const cached = this.drivers.get(name);
    if (cached?.key === key) return cached.driver;
    const ref = { name, ...(cfg.mac ? { mac: cfg.mac } : {}) };
    const driver = this.deps.driverFor
      ? this.deps.driverFor(ref, cfg.power as PowerConfig)
      : createPowerDriver(cfg.power as PowerConfig, {
          log: this.deps.log.child({ component: 'power', node: name }),
          node: ref,
          clock: this.deps.clock,
          ...(this.deps.powerEnv ? { env: this.deps.powerEnv } : {}),
          rebootViaAgent: async (n) => {
            if (!this.deps.dispatcher.sendCommand(n.name, 'reboot')) throw new Error(`the agent of ${n.name} is not connected`);
          },
          raiseAlert: (a) => {
            this.alert('power-manual', 'warning', a.message, a.node);
          },
        });
    this.drivers.set(name, { key, driver });
    return driver;
  }

  canPowerCycle(name: string): boolean {
    try {
      const d = this.driver(name);
      return !!d && d.name !== 'manual' && (d.capabilities.cycle || (d.capabilities.on && d.capabilities.off));
    } catch {
      return false;
    }
  }

  /** Waits for a free power slot (cluster-wide limit) and, for power-ons, the stagger gap. */
  private async acquire(action: PowerOpAction): Promise<() => void> {
    while (this.active >= this.deps.policy.maxConcurrentPowerOps) await new Promise<void>((r) => this.waiters.push(r));
    this.active++;
    if (action !== 'off') {
      const wait = this.lastPowerOnAt + this.deps.policy.staggerMs - this.deps.clock.now();
      this.lastPowerOnAt = Math.max(this.deps.clock.now(), this.lastPowerOnAt + this.deps.policy.staggerMs);
      if (wait > 0) await this.sleep(wait);
    }
    return () => {
      this.active--;
      this.waiters.shift()?.();
    };
  }

  /**
   * Powers a node on/off or cycles it through its driver. The action is journaled before it is
   * sent and completed after the driver verified it; a master crash in between is repaired by
   * `reconcile()` at the next start.
   */
  async power(name: string, action: 'on' | 'off' | 'cycle', actor: string): Promise<PowerOp> {
    const d = this.deps.dispatcher;
    d.getNode(name); // 404 for unknown nodes
    const driver = this.driver(name);
    if (!driver) throw new PowerNotConfiguredError(name);
    if (this.inFlight.has(name)) throw new PowerBusyError(name);
    this.inFlight.add(name);
    const release = await this.acquire(action);
    try {
      const op = this.deps.store.insertPowerOp({ node: name, driver: driver.name, action, actor, at: this.deps.clock.now() });
      this.emit('powerOp', op);
      // Jobs on a node that loses power are requeued now, not when it is declared lost.
      if (action !== 'on') d.abandonRunning(name, `power ${action} by ${actor}`);
      const before = d.getNode(name).state;
      if (before !== 'power-cycling' && action !== 'on')
        this.safeTransition(name, action === 'off' ? 'offline' : 'power-cycling', `power ${action} (${driver.name})`, actor);
      let result: PowerResult | undefined;
      let error: unknown;
      try {
        result = await driver[action]();
      } catch (e) {
        error = e;
      }
      const now = this.deps.clock.now();
      const detail = error ? `${(error as { code?: string }).code ?? 'ERROR'}: ${(error as Error).message}` : (result?.detail ?? `state ${result?.state}`);
      const ok = !error && !!result?.ok;
      this.deps.store.completePowerOp(op.id, { state: ok ? 'succeeded' : 'failed', at: now, verified: !!result?.verified, detail });
      d.recordNodeEvent(
        name,
        'power',
        `${action} via ${driver.name}: ${ok ? (result?.verified ? 'done, verified' : 'done, not verifiable') : 'failed'} (${detail})`,
        actor,
      );
      if (!ok) {
        // Left half-done (a port may be dark): a human should look, and the ladder watches it.
        this.safeTransition(name, 'lost', `power ${action} failed: ${detail}`, actor);
        this.alert('power-failed', 'warning', `power ${action} of ${name} via ${driver.name} failed: ${detail}`, name);
        this.ladders.set(name, startLadder(now, this.ladders.get(name)));
      }
      if (ok && action !== 'off') {
        this.safeTransition(name, 'booting', `powered ${action === 'cycle' ? 'cycled' : 'on'}; waiting for the agent`, actor);
        // Expect it back: the ladder's boot/hello deadlines apply to operator cycles too.
        const ladder = this.ladders.get(name);
        this.ladders.set(name, { step: 'await-boot', since: now, failedCycles: ladder?.failedCycles ?? [], triedAgentReboot: true });
      }
      const done = this.deps.store.listPowerOps({ node: name, limit: 1 })[0] ?? op;
      this.emit('powerOp', done);
      if (error && !(error instanceof PiclusterError)) this.deps.log.error({ err: error, node: name, action }, 'power action failed');
      return done;
    } finally {
      release();
      this.inFlight.delete(name);
    }
  }

  /** Graceful reboot through the agent: drain (or kill) running jobs, then `reboot`. */
  reboot(name: string, options: { kill?: boolean }, actor: string): { sent: boolean } {
    const d = this.deps.dispatcher;
    const node = d.getNode(name);
    if (!node.connected) throw new PiclusterErrorConflict(`node '${name}' has no connected agent to reboot; use power-cycle`);
    // The agent reboots at once: its running jobs are requeued now, without using a retry.
    d.abandonRunning(name, `reboot by ${actor}`);
    const op = this.deps.store.insertPowerOp({ node: name, driver: 'agent', action: 'reboot', actor, at: this.deps.clock.now() });
    const sent = d.sendCommand(name, 'reboot', { kill: options.kill === true });
    this.deps.store.completePowerOp(op.id, {
      state: sent ? 'succeeded' : 'failed',
      at: this.deps.clock.now(),
      verified: false,
      detail: sent ? 'reboot sent to the agent; verified by its next hello with a new boot id' : 'agent not connected',
    });
    if (sent) {
      this.safeTransition(name, 'rebooting', `reboot asked by ${actor}`, actor);
      this.ladders.set(name, {
        step: 'agent-reboot',
        since: this.deps.clock.now(),
        failedCycles: this.ladders.get(name)?.failedCycles ?? [],
        triedAgentReboot: true,
      });
    }
    return { sent };
  }

  private safeTransition(name: string, to: Parameters<Dispatcher['transitionNode']>[1], reason: string, actor: string): void {
    try {
      this.deps.dispatcher.transitionNode(name, to, reason, actor);
    } catch (e) {
      this.deps.log.warn({ node: name, to, err: (e as Error).message }, 'node state not changed');
    }
  }

  /** Completes power actions a previous master left unfinished: a port left off mid-cycle is turned back on. */
  async reconcile(): Promise<number> {
    // Nodes a previous master was waiting for (booting, rebooting, mid-cycle) are waited for again.
    const now0 = this.deps.clock.now();
    for (const n of this.deps.dispatcher.listNodes()) {
      if (n.state === 'booting' || n.state === 'rebooting' || n.state === 'power-cycling') {
        this.ladders.set(n.name, { step: 'await-hello', since: now0, failedCycles: [], triedAgentReboot: true });
      }
    }
    const open = this.deps.store.unfinishedPowerOps();
    for (const op of open) {
      const now = this.deps.clock.now();
      let detail: string;
      try {
        const driver = op.action === 'reboot' ? undefined : this.driver(op.node);
        if (op.action === 'cycle' || op.action === 'on') {
          if (!driver) throw new PowerNotConfiguredError(op.node);
          const r = await driver.on();
          detail = `master restarted during ${op.action}: powered back on (${r.verified ? 'verified' : 'not verifiable'})`;
          this.safeTransition(op.node, 'booting', 'power restored after a master restart', 'recovery');
        } else if (op.action === 'off') {
          detail = `master restarted during off: state now ${driver ? await driver.status() : 'unknown'}`;
        } else {
          detail = 'master restarted during reboot; the node reports back by itself';
        }
        this.deps.store.completePowerOp(op.id, { state: 'reconciled', at: now, verified: false, detail });
      } catch (e) {
        detail = `could not reconcile: ${(e as Error).message}`;
        this.deps.store.completePowerOp(op.id, { state: 'failed', at: now, verified: false, detail });
        this.alert(
          'power-reconcile-failed',
          'critical',
          `${op.action} of ${op.node} was interrupted by a master restart and could not be completed: ${(e as Error).message}`,
          op.node,
        );
      }
      try {
        this.deps.dispatcher.recordNodeEvent(op.node, 'power', detail, 'recovery');
      } catch {
        /* the node was removed meanwhile */
      }
      this.deps.log.warn({ node: op.node, action: op.action, detail }, 'unfinished power action reconciled');
    }
    return open.length;
  }

  // ── recovery ─────────────────────────────────────────────────────────────────────────

  /** One pass of the recovery ladder over every node that needs it, and the circuit breaker. */
  tick(): void {
    const now = this.deps.clock.now();
    const p = this.deps.policy;
    const nodes = this.deps.dispatcher.listNodes();
    const managed = nodes.filter((n) => n.boots > 0 && n.state !== 'maintenance' && n.state !== 'pending-approval');
    const lost = managed.filter((n) => n.state === 'lost').length;
    const open = breakerOpen(lost, managed.length, { fraction: p.breakerFraction, minNodes: p.breakerMinNodes });
    if (open !== this.breaker) {
      this.breaker = open;
      if (open)
        this.alert(
          'circuit-breaker',
          'critical',
          `${lost} of ${managed.length} nodes lost at once: likely a switch or master network fault; automatic power cycling is paused`,
        );
      else if (this.deps.store.resolveAlert('circuit-breaker', undefined, now)) this.deps.log.info('circuit breaker closed');
    }
    for (const n of nodes) {
      let ladder = this.ladders.get(n.name);
      if (n.state === 'maintenance' || n.state === 'pending-approval') {
        this.ladders.delete(n.name);
        continue;
      }
      if (!ladder) {
        if (n.state !== 'lost') continue;
        ladder = startLadder(now);
      }
      if (this.inFlight.has(n.name)) continue;
      const decision = decideRecovery(
        ladder,
        {
          now,
          agentConnected: n.connected,
          helloSince: (this.lastHelloAt.get(n.name) ?? -1) >= ladder.since && n.connected,
          bootEventSince: (this.lastBootAt.get(n.name) ?? -1) >= ladder.since,
          canPowerCycle: this.canPowerCycle(n.name),
          breakerOpen: this.breaker,
        },
        p,
      );
      this.ladders.set(n.name, decision.next);
      const a = decision.action;
      switch (a.kind) {
        case 'wait':
          break;
        case 'recovered':
          this.ladders.delete(n.name);
          this.deps.store.resolveAlert('recovery-blocked', n.name, now);
          this.deps.dispatcher.recordNodeEvent(n.name, 'recovered', `back (${a.via})`, 'recovery');
          this.emit('recovery', { node: n.name, action: 'recovered' });
          break;
        case 'agent-reboot':
          this.deps.dispatcher.recordNodeEvent(n.name, 'recovery', 'agent still connected: asking it to reboot', 'recovery');
          this.deps.dispatcher.sendCommand(n.name, 'reboot', { kill: true });
          this.emit('recovery', { node: n.name, action: 'agent-reboot' });
          break;
        case 'power-cycle':
          this.deps.dispatcher.recordNodeEvent(n.name, 'recovery', 'power-cycling a lost node', 'recovery');
          this.emit('recovery', { node: n.name, action: 'power-cycle' });
          this.power(n.name, 'cycle', 'recovery')
            .then((op) => {
              // The ladder waits for the boot from the moment the cycle ends.
              const l = this.ladders.get(n.name);
              if (l && op.state === 'succeeded') this.ladders.set(n.name, { ...l, step: 'await-boot', since: this.deps.clock.now() });
            })
            .catch((e: Error) => this.deps.log.warn({ node: n.name, err: e.message }, 'recovery power cycle not started'));
          break;
        case 'quarantine':
          this.safeTransition(n.name, 'quarantined', a.reason, 'recovery');
          this.alert('node-quarantined', 'critical', `${n.name} quarantined: ${a.reason}`, n.name);
          this.emit('recovery', { node: n.name, action: 'quarantine', reason: a.reason });
          break;
        case 'alert':
          this.alert('recovery-blocked', 'warning', `${n.name} is lost and cannot be recovered automatically: ${a.reason}`, n.name);
          break;
      }
    }
  }

  alert(kind: string, severity: Alert['severity'], message: string, node?: string): Alert {
    const a = this.deps.store.raiseAlert({ kind, severity, message, at: this.deps.clock.now(), ...(node ? { node } : {}) });
    if (a.raisedAt === this.deps.clock.now()) {
      this.deps.log.warn({ kind, node, message }, 'alert raised');
      this.emit('alert', a);
    }
    return a;
  }

  alerts(open?: boolean): Alert[] {
    return this.deps.store.listAlerts({ ...(open !== undefined ? { open } : {}), limit: 200 });
  }

  powerOps(node?: string, limit?: number): PowerOp[] {
    return this.deps.store.listPowerOps({ ...(node ? { node } : {}), ...(limit ? { limit } : {}) });
  }

  /** Test/diagnostic view of the ladder. */
  ladderOf(name: string): LadderState | undefined {
    return this.ladders.get(name);
  }
}

class PiclusterErrorConflict extends PiclusterError {
  readonly code = 'CONFLICT';
}
