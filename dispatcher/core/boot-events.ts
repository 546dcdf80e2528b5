/**
 * Boot events from netboot (and the agent hello), joined to a node by MAC or serial, stored and
 * emitted; the last refused agent hello of each known node; and the boot doctor's diagnosis
 * (doctor/boot) over both.
 */
import { diagnoseBoot } from '../../doctor/boot/diagnose.ts';
import type { BootDiagnosis } from '../../doctor/boot/schema.ts';
import type { BootEvent } from '../../netboot/boot-event.ts';
import { bootReportEvents, type BootReportFrame } from './boot-report.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';

interface Refusal {
  readonly at: number;
  readonly code: string;
  readonly message: string;
}

export class BootEvents {
  /** Known nodes only (bounded by the registry); cleared by the node's next accepted hello. */
  private readonly refusals = new Map<string, Refusal>();
  /**
   * Which node an address last belonged to (from events that name both): HTTP fetches by a
   * booting machine carry only its IP (iPXE's kernel and initramfs, /init's runtime), so they
   * join the node that IP was seen with in the last 15 minutes. Bounded by the registry's size.
   */
  private readonly byIp = new Map<string, { node: string; at: number }>();

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
    if (!node && event.ip) {
      const seen = this.byIp.get(event.ip);
      if (seen && event.at - seen.at < 15 * 60_000 && this.registry.nodes.has(seen.node)) node = seen.node;
    } else if (node && event.ip && this.registry.nodes.has(node)) {
      this.byIp.set(event.ip, { node, at: event.at });
      if (this.byIp.size > 4 * this.registry.nodes.size + 16) this.byIp.delete(this.byIp.keys().next().value as string);
    }
    const stored = node ? { ...event, node } : event;
    this.ctx.storeRetry.run(undefined, () => this.ctx.store.addBootEvent(stored));
    this.ctx.emit('bootEvent', stored);
  }

  /**
   * An agent's boot report, recorded once per boot id: an agent restarted in the same boot (or
   * reconnecting to a restarted master) sends it again.
   */
  bootReport(name: string, report: BootReportFrame): void {
    const n = this.registry.nodes.get(name);
    if (!n) return;
    const seen = this.ctx.store.listBootEvents({ node: name, limit: 500 }).some((e) => e.kind === 'kernel-log' && e.detail?.bootId === report.bootId);
    if (seen) return;
    const who = { name, ...(n.record.mac ? { mac: n.record.mac } : {}), ...(n.record.serial ? { serial: n.record.serial } : {}) };
    for (const e of bootReportEvents(who, report)) this.record(e);
  }

  list(query: { node?: string; mac?: string; serial?: string; limit?: number }) {
    return this.ctx.store.listBootEvents(query);
  }

  /** An agent hello's outcome: a refusal of a known node is kept for the boot doctor. */
  helloOutcome(name: string, outcome: { ok: true } | { ok: false; code: string; message: string }): void {
    if (outcome.ok) this.refusals.delete(name);
    else if (this.registry.nodes.has(name)) this.refusals.set(name, { at: this.ctx.clock.now(), code: outcome.code, message: outcome.message });
  }

  diagnose(name: string): BootDiagnosis {
    const node = this.registry.getNode(name);
    const refusal = this.refusals.get(name);
    return diagnoseBoot({
      node,
      bootEvents: this.ctx.store.listBootEvents({ node: name, limit: 500 }),
      nodeEvents: this.ctx.store.listNodeEvents(name, 500),
      ...(refusal ? { refusal } : {}),
      now: this.ctx.clock.now(),
    });
  }
}
