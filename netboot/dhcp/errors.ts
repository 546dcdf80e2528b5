/**
 * Errors of the DHCP half of netboot.
 *
 * Hand-written DHCP rather than the npm `dhcp` package: 0.2.20 crashes on a Pi's DISCOVER
 * (option 60 listed in its parameter request list), has no proxy mode, and ACKs requests
 * meant for other servers. See netboot/README.md.
 */
import { PacketDecodeError, PiclusterError } from '../../common/errors.ts';

/** A datagram that is not a well-formed BOOTP/DHCP message. `offset` is the byte that broke it. */
export class DecodeError extends PacketDecodeError {
  readonly code = 'DHCP_DECODE';
  constructor(offset: number, reason: string) {
    super('DHCP', offset, reason);
  }
}

/** A message that cannot be encoded (a field out of range): a bug in the caller. */
export class EncodeError extends PiclusterError {
  readonly code = 'DHCP_ENCODE';
}

/** Full-mode configuration that cannot work (no range, range off the server's subnet, …). */
export class DhcpConfigError extends PiclusterError {
  readonly code = 'DHCP_CONFIG';
}

/** The lease file exists but cannot be read as leases. */
export class LeaseFileError extends PiclusterError {
  readonly code = 'DHCP_LEASE_FILE';
}
