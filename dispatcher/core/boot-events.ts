/**
 * Boot events from netboot (and the agent hello), joined to a node by MAC or serial (events that
 * carry only a client IP by the MAC that IP was last seen with: ip-join.ts), stored and emitted. Netboot traffic is unauthenticated, so what it may write is bounded: events with the
 * same client, kind, file, outcome and reason within `bootEventCoalesceMs` are stored once (the
 * rest counted as `inputDropped{channel="netboot",reason="BOOT_EVENT_COALESCED"}`), the coalescing
 * table is itself bounded, and the boot/node event tables are capped to `maxBootEvents` /
 * `maxNodeEvents` rows (checked every CAP_EVERY writes). Also: the last refused agent hello of each
 * known node, and the boot doctor's diagnosis (doctor/boot) over both.
 */
import { diagnoseBoot } from '../../doctor/boot/diagnose.ts';
import type { BootDiagnosis } from '../../doctor/boot/schema.ts';
import type { BootEvent } from '../../netboot/boot-event.ts';
import { bootReportEvents, type BootReportFrame } from './boot-report.ts';
import type { DispatcherContext } from './context.ts';
import { IpJoin } from './ip-join.ts';
import type { NodeRegistry } from './node-registry.ts';

export const HISTORY_DEFAULTS = { bootEventCoalesceMs: 10_000, maxBootEvents: 100_000, maxNodeEvents: 100_000 } as const;
const CAP_EVERY = 256;
const FROM_AGENT: ReadonlySet<string> = new Set(['agent-hello', 'init-milestone', 'kernel-log']);
const MAX_COALESCE_KEYS = 4096;

/** What makes two boot events "the same" for coalescing. */
export function coalesceKey(e: BootEvent): string {
  const file = e.detail?.file;
  return [e.kind, e.mac ?? e.serial ?? e.ip ?? '?', typeof file === 'string' ? file : '', e.outcome, e.reason ?? ''].join('|');
}

interface Refusal {
  readonly at: number;
  readonly code: string;
  readonly message: string;
}

export class BootEvents {
  /** Known nodes only (bounded by the registry); cleared by the node's next accepted hello. */
  private readonly refusals = new Map<string, Refusal>();
  private readonly lastStored = new Map<string, number>();
  private writes = 0;
  /** The last boot id each node's report was recorded (or looked up) for: a second report of the same boot is not read again. */
  private readonly reported = new Map<string, string>();
  /** IP-only netboot events (HTTP fetches, unprefixed TFTP reads) → the MAC/serial their IP was seen with. */
  private readonly ipJoin = new IpJoin();

  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
  ) {}

  private get limits() {
    return { ...HISTORY_DEFAULTS, ...this.ctx.deps.limits };
  }

  /**
   * Boot events from netboot (and the agent hello), joined to a node by MAC or serial. What an
   * authenticated agent reports (its hello, its boot report: once per boot) is never coalesced.
   */
  record(raw: BootEvent): void {
    const event = FROM_AGENT.has(raw.kind) ? raw : this.ipJoin.join(raw);
    if (!FROM_AGENT.has(event.kind) && this.coalesced(event)) {
      this.ctx.emit('inputDropped', { channel: 'netboot', reason: 'BOOT_EVENT_COALESCED' });
      return;
    }
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
    this.wrote();
  }

  /** Counts a history write (boot or node event); every CAP_EVERY writes the tables are capped. */
  wrote(): void {
    if (++this.writes % CAP_EVERY !== 0) return;
    const { maxBootEvents, maxNodeEvents } = this.limits;
    // After the writes queued before it (a failed cap is retried like any handler write).
    void this.ctx.storeRetry.run('cap-history', async () => {
      const n = await this.ctx.store.capHistory({ bootEvents: maxBootEvents, nodeEvents: maxNodeEvents });
      if (n) this.ctx.log.info({ rows: n, maxBootEvents, maxNodeEvents }, 'history capped');
    });
  }

  private coalesced(event: BootEvent): boolean {
    const windowMs = this.limits.bootEventCoalesceMs;
    if (windowMs <= 0) return false;
    const key = coalesceKey(event);
    const last = this.lastStored.get(key);
    if (last !== undefined && event.at - last < windowMs && event.at >= last) return true;
    this.lastStored.delete(key);
    if (this.lastStored.size >= MAX_COALESCE_KEYS) this.lastStored.delete(this.lastStored.keys().next().value!);
    this.lastStored.set(key, event.at);
    return false;
  }

  /**
   * An agent's boot report, recorded once per boot id: an agent restarted in the same boot (or
   * reconnecting to a restarted master) sends it again.
   */
  bootReport(name: string, report: BootReportFrame): void {
    if (!this.registry.nodes.has(name) || this.reported.get(name) === report.bootId) return;
    this.reported.set(name, report.bootId);
    // In order with the other handler-side writes (and kept for a retry if the store fails).
    void this.ctx.storeRetry.run(undefined, async () => {
      const events = await this.ctx.store.listBootEvents({ node: name, limit: 500 });
      if (!events.some((e) => e.kind === 'kernel-log' && e.detail?.bootId === report.bootId)) this.recordReport(name, report);
    });
  }

  private recordReport(name: string, report: BootReportFrame): void {
    const n = this.registry.nodes.get(name);
    if (!n) return;
    const who = { name, ...(n.record.mac ? { mac: n.record.mac } : {}), ...(n.record.serial ? { serial: n.record.serial } : {}) };
    for (const e of bootReportEvents(who, report)) this.record(e);
  }

  async list(query: { node?: string; mac?: string; serial?: string; limit?: number }) {
    await this.ctx.storeRetry.idle(); // read what was written before (events go through the write queue)
    return this.ctx.store.listBootEvents(query);
  }

  /** An agent hello's outcome: a refusal of a known node is kept for the boot doctor. */
  helloOutcome(name: string, outcome: { ok: true } | { ok: false; code: string; message: string }): void {
    if (outcome.ok) this.refusals.delete(name);
    else if (this.registry.nodes.has(name)) this.refusals.set(name, { at: this.ctx.clock.now(), code: outcome.code, message: outcome.message });
  }

  async diagnose(name: string): Promise<BootDiagnosis> {
    const node = this.registry.getNode(name);
    await this.ctx.storeRetry.idle();
    const [bootEvents, nodeEvents] = await Promise.all([this.ctx.store.listBootEvents({ node: name, limit: 500 }), this.ctx.store.listNodeEvents(name, 500)]);
    const refusal = this.refusals.get(name);
    return diagnoseBoot({
      node,
      bootEvents,
      nodeEvents,
      ...(refusal ? { refusal } : {}),
      now: this.ctx.clock.now(),
    });
  }
}
