/**
 * Admission of a new read request, pure: whether one more transfer may start, given how
 * many are running in total and for the requesting client address. Unauthenticated work
 * must stay bounded (ARCHITECTURE.md, issue 10): the total cap bounds memory, sockets and
 * CPU; the per-client cap stops one address (or a forger using it as a source) from
 * taking every slot, and with the transfer's no-amplification rule (transfer.ts) bounds
 * what a forged source address can make us send to its owner.
 *
 * Keyed by IP address, not address:port: a client picks a new port per request, so a
 * port-keyed cap would not bound anything. A Pi fetches its files one after the other
 * (and sometimes overlaps a probe with the next request), so a small per-client cap never
 * slows a real boot.
 */
export interface AdmissionLimits {
  /** Concurrent transfers in total. */
  readonly maxTransfers: number;
  /** Concurrent transfers per client IP address. */
  readonly maxTransfersPerClient: number;
}

export interface AdmissionCounts {
  readonly total: number;
  /** Transfers running (or starting) for the requesting client's address. */
  readonly client: number;
}

export type AdmissionRefusal = 'busy' | 'client-busy';

export type AdmissionDecision = { readonly kind: 'admit' } | { readonly kind: 'refuse'; readonly reason: AdmissionRefusal; readonly message: string };

export function decideAdmission(counts: AdmissionCounts, limits: AdmissionLimits): AdmissionDecision {
  if (counts.total >= limits.maxTransfers) return { kind: 'refuse', reason: 'busy', message: 'server busy' };
  if (counts.client >= limits.maxTransfersPerClient) return { kind: 'refuse', reason: 'client-busy', message: 'too many transfers from this client' };
  return { kind: 'admit' };
}
