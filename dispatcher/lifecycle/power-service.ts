/**
 * The power service: each node's driver (built from its power config, cached until the config
 * changes), power actions journaled before they are sent and completed after verification,
 * graceful reboots through the agent, and `reconcile()` of what a previous master left
 * unfinished. Limits come from the PowerLimiter; node state and events go through
 * LifecycleNodes; the ladders map is shared with the recovery runner.
 */
import type { Clock } from '../../common/clock.ts';
import { PiclusterError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { startLadder, type LadderState } from '../domain/recovery.ts';
import type { NodeState } from '../domain/nodes.ts';
import { createPowerDriver, type PowerConfig, type PowerDriver, type PowerResult } from '../power/driver.ts';
import type { PowerOp } from '../store/store.ts';
import type { Alerts } from './alerts.ts';
import { AgentNotConnectedError, PowerBusyError, PowerNotConfiguredError } from './errors.ts';
import type { PowerLimiter } from './limiter.ts';
import type { LifecycleNodes, PowerJournal } from './ports.ts';

export interface PowerServiceDeps {
  readonly nodes: LifecycleNodes;
  readonly journal: PowerJournal;
  readonly clock: Clock;
  readonly log: Logger;
  readonly limiter: PowerLimiter;
  readonly alerts: Alerts;
  /** Recovery ladders by node (shared with the recovery runner). */
  readonly ladders: Map<string, LadderState>;
  /** Called with every journal entry, when inserted and when completed. */
  readonly onPowerOp: (op: PowerOp) => void;
  /** Builds a node's driver; default `createPowerDriver`. */
  readonly driverFor?: (node: { name: string; mac?: string }, config: PowerConfig) => PowerDriver;
  /** Extra environment for command-running drivers. */
  readonly powerEnv?: Readonly<Record<string, string>>;
}

export class PowerService {
  private readonly drivers = new Map<string, { key: string; driver: PowerDriver }>();
  /** Nodes with a power action under way (the recovery runner skips them). */
  readonly inFlight = new Set<string>();

  constructor(private readonly deps: PowerServiceDeps) {}

  private driver(name: string): PowerDriver | undefined {
    const cfg = this.deps.nodes.nodePowerConfig(name);
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
            if (!this.deps.nodes.sendCommand(n.name, 'reboot')) throw new Error(`the agent of ${n.name} is not connected`);
          },
          raiseAlert: (a) => {
            void this.deps.alerts.raise('power-manual', 'warning', a.message, a.node);
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

  /**
   * Powers a node on/off or cycles it through its driver. The action is journaled before it is
   * sent and completed after the driver verified it; a master crash in between is repaired by
   * `reconcile()` at the next start.
   */
  async power(name: string, action: 'on' | 'off' | 'cycle', actor: string): Promise<PowerOp> {
    const { nodes: d, journal, ladders } = this.deps;
    d.getNode(name); // 404 for unknown nodes
    const driver = this.driver(name);
    if (!driver) throw new PowerNotConfiguredError(name);
    if (this.inFlight.has(name)) throw new PowerBusyError(name);
    this.inFlight.add(name);
    const release = await this.deps.limiter.acquire(action);
    try {
      const op = await journal.insertPowerOp({ node: name, driver: driver.name, action, actor, at: this.deps.clock.now() });
      this.deps.onPowerOp(op);
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
      await journal.completePowerOp(op.id, { state: ok ? 'succeeded' : 'failed', at: now, verified: !!result?.verified, detail });
      d.recordNodeEvent(
        name,
        'power',
        `${action} via ${driver.name}: ${ok ? (result?.verified ? 'done, verified' : 'done, not verifiable') : 'failed'} (${detail})`,
        actor,
      );
      if (!ok) {
        // Left half-done (a port may be dark): a human should look, and the ladder watches it.
        this.safeTransition(name, 'lost', `power ${action} failed: ${detail}`, actor);
        void this.deps.alerts.raise('power-failed', 'warning', `power ${action} of ${name} via ${driver.name} failed: ${detail}`, name);
        ladders.set(name, startLadder(now, ladders.get(name)));
      }
      if (ok && action !== 'off') {
        this.safeTransition(name, 'booting', `powered ${action === 'cycle' ? 'cycled' : 'on'}; waiting for the agent`, actor);
        // Expect it back: the ladder's boot/hello deadlines apply to operator cycles too.
        const ladder = ladders.get(name);
        ladders.set(name, { step: 'await-boot', since: now, failedCycles: ladder?.failedCycles ?? [], triedAgentReboot: true });
      }
      const done = (await journal.listPowerOps({ node: name, limit: 1 }))[0] ?? op;
      this.deps.onPowerOp(done);
      if (error && !(error instanceof PiclusterError)) this.deps.log.error({ err: error, node: name, action }, 'power action failed');
      return done;
    } finally {
      release();
      this.inFlight.delete(name);
    }
  }

  /** Graceful reboot through the agent: drain (or kill) running jobs, then `reboot`. */
  async reboot(name: string, options: { kill?: boolean }, actor: string): Promise<{ sent: boolean }> {
    const { nodes: d, journal, ladders, clock } = this.deps;
    const node = d.getNode(name);
    if (!node.connected) throw new AgentNotConnectedError(name, 'to reboot; use power-cycle');
    // The agent reboots at once: its running jobs are requeued now, without using a retry.
    d.abandonRunning(name, `reboot by ${actor}`);
    const op = await journal.insertPowerOp({ node: name, driver: 'agent', action: 'reboot', actor, at: clock.now() });
    const sent = d.sendCommand(name, 'reboot', { kill: options.kill === true });
    await journal.completePowerOp(op.id, {
      state: sent ? 'succeeded' : 'failed',
      at: clock.now(),
      verified: false,
      detail: sent ? 'reboot sent to the agent; verified by its next hello with a new boot id' : 'agent not connected',
    });
    if (sent) {
      this.safeTransition(name, 'rebooting', `reboot asked by ${actor}`, actor);
      ladders.set(name, { step: 'agent-reboot', since: clock.now(), failedCycles: ladders.get(name)?.failedCycles ?? [], triedAgentReboot: true });
    }
    return { sent };
  }

  /** A state change the lifecycle wants but that may be illegal by now (the node moved on): logged, not thrown. */
  safeTransition(name: string, to: NodeState, reason: string, actor: string): void {
    try {
      this.deps.nodes.transitionNode(name, to, reason, actor);
    } catch (err) {
      this.deps.log.warn({ node: name, to, err }, 'node state not changed');
    }
  }

  /** Completes power actions a previous master left unfinished: a port left off mid-cycle is turned back on. */
  async reconcile(): Promise<number> {
    const { nodes, journal, ladders, clock, log } = this.deps;
    // Nodes a previous master was waiting for (booting, rebooting, mid-cycle) are waited for again.
    const now0 = clock.now();
    for (const n of nodes.listNodes()) {
      if (n.state === 'booting' || n.state === 'rebooting' || n.state === 'power-cycling') {
        ladders.set(n.name, { step: 'await-hello', since: now0, failedCycles: [], triedAgentReboot: true });
      }
    }
    const open = await journal.unfinishedPowerOps();
    for (const op of open) {
      const now = clock.now();
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
        await journal.completePowerOp(op.id, { state: 'reconciled', at: now, verified: false, detail });
      } catch (e) {
        detail = `could not reconcile: ${(e as Error).message}`;
        await journal.completePowerOp(op.id, { state: 'failed', at: now, verified: false, detail });
        void this.deps.alerts.raise(
          'power-reconcile-failed',
          'critical',
          `${op.action} of ${op.node} was interrupted by a master restart and could not be completed: ${(e as Error).message}`,
          op.node,
        );
      }
      try {
        nodes.recordNodeEvent(op.node, 'power', detail, 'recovery');
      } catch {
        /* the node was removed meanwhile */
      }
      log.warn({ node: op.node, action: op.action, detail }, 'unfinished power action reconciled');
    }
    return open.length;
  }

  powerOps(node?: string, limit?: number): Promise<PowerOp[]> {
    return this.deps.journal.listPowerOps({ ...(node ? { node } : {}), ...(limit ? { limit } : {}) });
  }
}
