/**
 * A boot event is one observable step of a node's boot: a DHCP decision, a TFTP
 * transfer, an HTTP artefact fetch, and (added by the dispatcher) the agent's hello.
 * netboot emits them through a `BootEventSink`; the dispatcher stores them and joins
 * them into a per-node timeline (`GET /api/boot-events?node=`).
 */
export type BootEventKind =
  | 'dhcp-discover' // a DISCOVER/REQUEST was answered
  | 'dhcp-ignored' // a packet from a PXE client was ignored (reason says why)
  | 'dhcp-ack' // full mode: an address was leased
  | 'tftp-transfer' // a TFTP transfer ended (outcome says how)
  | 'http-fetch' // an artefact was fetched over HTTP (iPXE, two-stage image)
  | 'agent-hello' // the node's agent registered (added by the dispatcher)
  | 'init-milestone' // a step of /init or the kernel (from the agent's boot report; detail.step)
  | 'kernel-log'; // the kernel log of one boot (from the agent's boot report; detail.text)

export interface BootEvent {
  readonly kind: BootEventKind;
  /** Milliseconds since the epoch. */
  readonly at: number;
  /** Normalised `aa:bb:cc:dd:ee:ff`, when known. */
  readonly mac?: string;
  /** Pi serial, 8 lowercase hex, when known. */
  readonly serial?: string;
  /** Inventory node name, when the MAC/serial is known. */
  readonly node?: string;
  /** Client IP address, when known. */
  readonly ip?: string;
  /** Short machine-readable outcome: `answered`, `ignored`, `complete`, `probe`, `error`, `timeout`, … */
  readonly outcome: string;
  /** For ignores and errors: why. */
  readonly reason?: string;
  /** Free-form detail: file, bytes, durationMs, blksize, windowsize, arch, vendorClass, … */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
}

export type BootEventSink = (event: BootEvent) => void;
