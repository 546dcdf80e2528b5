/** Boot events from netboot (and the agent hello), joined to a node by MAC or serial, stored and emitted. */
import type { BootEvent } from '../../netboot/boot-event.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';

export class BootEvents {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
  ) {}

  /** Boot events from netboot (and the agent hello), joined to a node by MAC or serial. */
  record(event: BootEvent): void {
    let node = event.node;
    if (!node && (event.mac || event.serial)) {
      for (const n of this.registry.nodes.values()) {
        if ((event.mac && n.record.mac === event.mac) || (event.serial && n.record.serial === event.serial)) {
          node = n.name;
          break;
        }
      }
    }
    const stored = node ? { ...event, node } : event;
    this.ctx.storeRetry.run(undefined, () => this.ctx.store.addBootEvent(stored));
    this.ctx.emit('bootEvent', stored);
  }

  list(query: { node?: string; mac?: string; serial?: string; limit?: number }) {
    return this.ctx.store.listBootEvents(query);
  }
}
