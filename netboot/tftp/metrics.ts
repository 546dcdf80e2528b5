/**
 * TFTP counters on the injected prom-client registry (never the global one).
 *
 * Hand-written TFTP rather than the npm `tftp` package (0.1.2): that runs at about half
 * dnsmasq's speed, its windowed mode fails under 0.2 % loss, and an unhandled client
 * ERROR crashes the process.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface TftpMetrics {
  /** RRQ/WRQ datagrams received on the listen port. */
  readonly requests: Counter;
  /** Ended transfers by outcome (complete, probe, client-error, timeout, not-found, refused, …). */
  readonly transfers: Counter<'outcome'>;
  /** DATA payload bytes put on the wire, retransmits included. */
  readonly bytes: Counter;
  /** Retransmitted OACK/DATA packets. */
  readonly retransmits: Counter;
  /** Datagrams dropped without effect, by reason (malformed, duplicate-request, …). */
  readonly ignored: Counter<'reason'>;
  /** Requests refused by admission control (busy: total cap, client-busy: per-client cap). */
  readonly refused: Counter<'reason'>;
  /** Transfers in progress (starting ones included). */
  readonly active: Gauge;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

function gauge(registry: Registry, name: string, help: string): Gauge {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge;
  return new Gauge({ name, help, registers: [registry] });
}

export function tftpMetrics(registry: Registry): TftpMetrics {
  return {
    requests: counter(registry, 'picluster_tftp_requests_total', 'TFTP read/write requests received'),
    transfers: counter(registry, 'picluster_tftp_transfers_total', 'TFTP transfers ended, by outcome', ['outcome']),
    bytes: counter(registry, 'picluster_tftp_bytes_total', 'TFTP DATA payload bytes sent, retransmits included'),
    retransmits: counter(registry, 'picluster_tftp_retransmits_total', 'TFTP OACK/DATA packets retransmitted'),
    ignored: counter(registry, 'picluster_tftp_ignored_total', 'TFTP datagrams ignored, by reason', ['reason']),
    refused: counter(registry, 'picluster_tftp_admission_refused_total', 'TFTP requests refused by the transfer caps, by reason', ['reason']),
    active: gauge(registry, 'picluster_tftp_active_transfers', 'TFTP transfers in progress'),
  };
}
