/**
 * TFTP error types. The TFTP server is hand-written rather than the npm `tftp` package
 * (0.1.2): that runs at about half dnsmasq's speed, its windowed mode fails under 0.2 %
 * loss, and an unhandled client ERROR crashes the process.
 */
import { PacketDecodeError, PiclusterError } from '../../common/errors.ts';

/** A datagram that is not a well-formed TFTP packet. `offset` is where decoding gave up. */
export class DecodeError extends PacketDecodeError {
  readonly code = 'TFTP_DECODE';
  constructor(offset: number, reason: string) {
    super('TFTP', offset, reason);
  }
}

/** Why a requested path cannot be served; maps to a TFTP error code on the wire. */
export type TftpFileProblem = 'not-found' | 'access-violation';

export class TftpFileError extends PiclusterError {
  readonly code = 'TFTP_FILE';
  readonly problem: TftpFileProblem;
  readonly reason: string;
  constructor(problem: TftpFileProblem, reason: string, options?: { cause?: unknown }) {
    super(`tftp ${problem}: ${reason}`, options);
    this.problem = problem;
    this.reason = reason;
  }
}
