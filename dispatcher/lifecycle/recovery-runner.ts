/**
 * The recovery runner: one pass of the ladder (pure rule: domain/recovery.ts) over every node
 * that needs it on each tick, carrying out its action (agent reboot, power cycle, quarantine,
 * alert), and the circuit breaker that pauses power cycling when too many nodes are lost at
 * once. Boot events (DHCP, TFTP, HTTP, agent hello) tell it a node is coming back.
 */
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import { breakerOpen, decideRecovery, startLadder, type LadderState, type RecoveryPolicy } from '../domain/recovery.ts';
import type { Alerts } from './alerts.ts';
import type { LifecycleNodes } from './ports.ts';
import type { PowerService } from './power-service.ts';

export interface RecoveryRunnerDeps {
  readonly nodes: LifecycleNodes;
  readonly power: PowerService;
  readonly alerts: Alerts;
  readonly clock: Clock;
  readonly log: Logger;
  readonly policy: RecoveryPolicy & { readonly breakerFraction: number; readonly breakerMinNodes: number };
  readonly ladders: Map<string, LadderState>;
  readonly onRecovery: (info: { node: string; action: string; reason?: string }) => void;
}

export class RecoveryRunner {
  private readonly lastHelloAt = new Map<string, number>();
  private readonly lastBootAt = new Map<string, number>();
  private breaker = false;

  constructor(private readonly deps: RecoveryRunnerDeps) {
    deps.nodes.on('bootEvent', (e) => {
      if (!e.node) return;
      if (e.kind === 'agent-hello') this.lastHelloAt.set(e.node, e.at);
      else if (e.kind === 'dhcp-discover' || e.kind === 'dhcp-ack' || e.kind === 'tftp-transfer' || e.kind === 'http-fetch') this.lastBootAt.set(e.node, e.at);
    });
  }

  get breakerIsOpen(): boolean {
    return this.breaker;
  }

  /** One pass of the recovery ladder over every node that needs it, and the circuit breaker. */
  tick(): void {
    const { nodes: d, power, alerts, ladders, clock, log } = this.deps;
    const now = clock.now();
    const p = this.deps.policy;
    const nodes = d.listNodes();
    const managed = nodes.filter((n) => n.boots > 0 && n.state !== 'maintenance' && n.state !== 'pending-approval');
    const lost = managed.filter((n) => n.state === 'lost').length;
    const open = breakerOpen(lost, managed.length, { fraction: p.breakerFraction, minNodes: p.breakerMinNodes });
    if (open !== this.breaker) {
      this.breaker = open;
      if (open)
        void alerts.raise(
          'circuit-breaker',
          'critical',
          `${lost} of ${managed.length} nodes lost at once: likely a switch or master network fault; automatic power cycling is paused`,
        );
      else
        void alerts.resolve('circuit-breaker', undefined, now).then(
          (was) => was && log.info('circuit breaker closed'),
          (err: unknown) => log.warn({ err }, 'could not resolve the circuit-breaker alert'),
        );
    }
    for (const n of nodes) {
      let ladder = ladders.get(n.name);
      if (n.state === 'maintenance' || n.state === 'pending-approval') {
        ladders.delete(n.name);
        continue;
      }
      if (!ladder) {
        if (n.state !== 'lost') continue;
        ladder = startLadder(now);
      }
      if (power.inFlight.has(n.name)) continue;
      const decision = decideRecovery(
        ladder,
        {
          now,
          agentConnected: n.connected,
          // back: a hello since the ladder started, or the same boot heard from again (online since then)
          helloSince:
            n.connected &&
            ((this.lastHelloAt.get(n.name) ?? -1) >= ladder.since || ((n.state === 'online' || n.state === 'busy') && n.stateSince >= ladder.since)),
          bootEventSince: (this.lastBootAt.get(n.name) ?? -1) >= ladder.since,
          canPowerCycle: power.canPowerCycle(n.name),
          breakerOpen: this.breaker,
        },
        p,
      );
      ladders.set(n.name, decision.next);
      const a = decision.action;
      switch (a.kind) {
        case 'wait':
          break;
        case 'recovered':
          ladders.delete(n.name);
          alerts.resolve('recovery-blocked', n.name, now).catch((err: unknown) => log.warn({ err, node: n.name }, 'could not resolve the alert'));
          d.recordNodeEvent(n.name, 'recovered', `back (${a.via})`, 'recovery');
          this.deps.onRecovery({ node: n.name, action: 'recovered' });
          break;
        case 'agent-reboot':
          d.recordNodeEvent(n.name, 'recovery', 'agent still connected: asking it to reboot', 'recovery');
          d.sendCommand(n.name, 'reboot', { kill: true });
          this.deps.onRecovery({ node: n.name, action: 'agent-reboot' });
          break;
        case 'power-cycle':
          d.recordNodeEvent(n.name, 'recovery', 'power-cycling a lost node', 'recovery');
          this.deps.onRecovery({ node: n.name, action: 'power-cycle' });
          power
            .power(n.name, 'cycle', 'recovery')
            .then((op) => {
              // The ladder waits for the boot from the moment the cycle ends.
              const l = ladders.get(n.name);
              if (l && op.state === 'succeeded') ladders.set(n.name, { ...l, step: 'await-boot', since: clock.now() });
            })
            .catch((err: unknown) => log.warn({ node: n.name, err }, 'recovery power cycle not started'));
          break;
        case 'quarantine':
          power.safeTransition(n.name, 'quarantined', a.reason, 'recovery');
          void alerts.raise('node-quarantined', 'critical', `${n.name} quarantined: ${a.reason}`, n.name);
          this.deps.onRecovery({ node: n.name, action: 'quarantine', reason: a.reason });
          break;
        case 'alert':
          void alerts.raise('recovery-blocked', 'warning', `${n.name} is lost and cannot be recovered automatically: ${a.reason}`, n.name);
          break;
      }
    }
  }
}
