/**
 * Base error for everything picluster throws on purpose. Each area keeps its own
 * `errors.ts` with subclasses carrying a stable `code`; the HTTP error handler maps
 * codes to status codes, the CLI prints `code: message`.
 */
export abstract class PiclusterError extends Error {
  abstract readonly code: string;
  /** Extra machine-readable detail, safe to show to the client (never secrets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options?.details;
  }
}

export class ValidationError extends PiclusterError {
  readonly code = 'VALIDATION_FAILED';
  readonly problems: readonly Problem[];
  constructor(what: string, problems: readonly Problem[]) {
    super(`${what}: ${problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`, {
      details: { problems },
    });
    this.problems = problems;
  }
}

export interface Problem {
  /** Dotted path of the offending field, e.g. `netboot.tftp.blksizeMax` or `nodes[3].mac`. */
  readonly path: string;
  readonly message: string;
}

export function isPiclusterError(e: unknown): e is PiclusterError {
  return e instanceof PiclusterError;
}

/** A datagram that is not a well-formed packet of some protocol; `offset` is where decoding gave up. */
export abstract class PacketDecodeError extends PiclusterError {
  readonly offset: number;
  readonly reason: string;
  constructor(protocol: string, offset: number, reason: string) {
    super(`${protocol} decode failed at byte ${offset}: ${reason}`, { details: { offset, reason } });
    this.offset = offset;
    this.reason = reason;
  }
}
