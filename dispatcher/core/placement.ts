/**
 * Health-aware placement per node (derate or skip hot, throttled, undervolted nodes): the
 * decision is pure (domain/health.ts); this keeps the last one per node and records a node
 * event only when it changes.
 */
import { DEFAULT_HEALTH_POLICY, HEALTHY, describePlacement, healthPlacement, placementChanged, type HealthPlacement } from '../domain/health.ts';
import type { RuntimeNode } from '../node-runtime.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';

export class Placement {
  /** Last health-aware placement decision per node (events only when it changes). */
  private readonly placements = new Map<string, HealthPlacement>();

  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
  ) {}

  /** The node's current health-aware placement (dispatcher/domain/health.ts). */
  nodePlacement(name: string): HealthPlacement {
    return this.placements.get(name) ?? healthPlacement(this.registry.runtime(name).record.health, this.ctx.settings.health ?? DEFAULT_HEALTH_POLICY);
  }

  /** Re-evaluates placement after a heartbeat; a node event only when the decision changes. */
  updatePlacement(node: RuntimeNode, now: number): void {
    const previous = this.placements.get(node.name) ?? HEALTHY;
    const next = healthPlacement(node.record.health, this.ctx.settings.health ?? DEFAULT_HEALTH_POLICY, previous);
    this.placements.set(node.name, next);
    if (!placementChanged(previous, next)) return;
    this.registry.nodeEvent(node, 'placement', describePlacement(next), 'scheduler', now);
    this.ctx.log.info({ node: node.name, status: next.status, derate: next.derate, reasons: next.reasons }, 'node placement changed');
    if (previous.status === 'skipped') this.ctx.requestSchedule();
  }
}
