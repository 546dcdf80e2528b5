/**
 * Metric families other areas feed, declared here so every scrape has them (dashboards and
 * alert rules never point at a name that only appears once netboot or power did something):
 *
 * - netboot: the DHCP and TFTP servers register `picluster_dhcp_*` / `picluster_tftp_*` on the
 *   registry they are given with "get the existing one or create it"; the definitions below are
 *   the same names, help and labels (netboot/dhcp/server.ts, netboot/tftp/metrics.ts), so both
 *   orders work. `metrics-hooks.test.ts` checks that the real servers' counters accept them.
 * - boots: `picluster_boot_events_total` and `picluster_boot_duration_seconds` follow the
 *   Dispatcher's `bootEvent` stream (first DHCP answer for a MAC → that MAC's agent hello).
 * - power: `powerMetrics(registry)` is the hook the power drivers call
 *   (`powerMetrics(registry).operations.inc({ driver, action, outcome })`); quarantines are
 *   counted from node state events (`to: quarantined`) in metrics.ts.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BootEvent } from '../netboot/boot-event.ts';

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter<L>({ name, help, labelNames, registers: [registry] });
}

function histogram<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  return (registry.getSingleMetric(name) as Histogram<L> | undefined) ?? new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
}

/** Same definitions as netboot's own registrations. */
export function declareNetbootMetrics(registry: Registry): void {
  counter(registry, 'picluster_dhcp_requests_total', 'DHCP datagrams received, by message type', ['type']);
  counter(registry, 'picluster_dhcp_replies_total', 'DHCP replies sent, by message type', ['type']);
  counter(registry, 'picluster_dhcp_ignored_total', 'DHCP datagrams not answered, by reason', ['reason']);
  counter(registry, 'picluster_tftp_requests_total', 'TFTP read/write requests received');
  counter(registry, 'picluster_tftp_transfers_total', 'TFTP transfers ended, by outcome', ['outcome']);
  counter(registry, 'picluster_tftp_bytes_total', 'TFTP DATA payload bytes sent, retransmits included');
  counter(registry, 'picluster_tftp_retransmits_total', 'TFTP OACK/DATA packets retransmitted');
  counter(registry, 'picluster_tftp_ignored_total', 'TFTP datagrams ignored, by reason', ['reason']);
  counter(registry, 'picluster_tftp_admission_refused_total', 'TFTP requests refused by the transfer caps, by reason', ['reason']);
  if (!registry.getSingleMetric('picluster_tftp_active_transfers')) {
    new Gauge({ name: 'picluster_tftp_active_transfers', help: 'TFTP transfers in progress', registers: [registry] });
  }
}

export interface PowerMetrics {
  /** One per power operation the master sent, by driver (agent, snmp-poe, …), action (on, off, cycle, reboot, status) and outcome (ok, failed, timeout, unverified, …). */
  readonly operations: Counter<'driver' | 'action' | 'outcome'>;
  /** Time from sending an operation to its verified (or failed) end. */
  readonly duration: Histogram<'driver' | 'action'>;
}

/** The power drivers' hook: the same objects every call, registered once per registry. */
export function powerMetrics(registry: Registry): PowerMetrics {
  return {
    operations: counter(registry, 'picluster_power_operations_total', 'Power operations, by driver, action and outcome', ['driver', 'action', 'outcome']),
    duration: histogram(
      registry,
      'picluster_power_operation_duration_seconds',
      'Power operation time from sending to verified end',
      ['driver', 'action'],
      [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    ),
  };
}

/** Boot events counted by kind and outcome, and the DHCP → agent-hello time per MAC. */
export class BootMetrics {
  private readonly events: Counter<'kind' | 'outcome'>;
  private readonly duration: Histogram;
  /** MAC → when its first answered DHCP request of the current boot was seen. */
  private readonly started = new Map<string, number>();

  constructor(
    registry: Registry,
    private readonly maxPending = 4096,
    private readonly maxBootMs = 30 * 60_000,
  ) {
    this.events = counter(registry, 'picluster_boot_events_total', 'Boot events (DHCP, TFTP, HTTP, agent hello), by kind and outcome', ['kind', 'outcome']);
    this.duration = histogram(
      registry,
      'picluster_boot_duration_seconds',
      "From the first answered DHCP request of a boot to the agent's hello",
      [],
      [5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600],
    );
  }

  record(e: BootEvent): void {
    this.events.inc({ kind: e.kind, outcome: e.outcome });
    if (!e.mac) return;
    if ((e.kind === 'dhcp-discover' || e.kind === 'dhcp-ack') && e.outcome !== 'ignored') {
      const first = this.started.get(e.mac);
      if (first === undefined || e.at - first > this.maxBootMs) {
        this.started.delete(e.mac);
        this.started.set(e.mac, e.at);
        if (this.started.size > this.maxPending) this.started.delete(this.started.keys().next().value!);
      }
    } else if (e.kind === 'agent-hello') {
      const first = this.started.get(e.mac);
      this.started.delete(e.mac);
      if (first !== undefined && e.at >= first && e.at - first <= this.maxBootMs) this.duration.observe((e.at - first) / 1000);
    }
  }
}
