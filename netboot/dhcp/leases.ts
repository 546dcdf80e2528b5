/**
 * Full-DHCP-mode leases. The decision (full.ts) only reads a `LeaseView` and returns
 * `LeaseOp`s; the server applies them to a `LeaseStore`. Two stores here: in memory, and
 * a JSON file in the data dir (written atomically: temp file + rename). The dispatcher's
 * SQLite store may implement `LeaseStore` later.
 *
 * Hand-written DHCP (not the npm `dhcp` package 0.2.20, which crashes on a Pi's DISCOVER,
 * has no proxy mode and ACKs requests meant for other servers): see codec.ts.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LeaseFileError } from './errors.ts';

export interface Lease {
  readonly ip: string;
  /** `id:<hex of option 61>` or `mac:<aa:bb:…>` (RFC 2131 §4.2: client id, else chaddr). */
  readonly clientKey: string;
  readonly mac: string;
  /** `offered`: held for a pending REQUEST; `bound`: ACKed; `declined`: in use by someone else. */
  readonly state: 'offered' | 'bound' | 'declined';
  /** Epoch ms; a lease past this is free again (expiry by the injected clock). */
  readonly expiresAt: number;
  readonly hostname?: string;
}

/** What decisions may read. */
export interface LeaseView {
  byIp(ip: string): Lease | undefined;
  byClient(clientKey: string): Lease | undefined;
}

export type LeaseOp = { readonly op: 'put'; readonly lease: Lease } | { readonly op: 'delete'; readonly ip: string };

export interface LeaseStore extends LeaseView {
  list(): readonly Lease[];
  apply(ops: readonly LeaseOp[]): void;
  /** Drops leases expired before `now`; returns how many. */
  sweep(now: number): number;
}

export class MemoryLeaseStore implements LeaseStore {
  protected readonly leases = new Map<string, Lease>();

  constructor(initial: readonly Lease[] = []) {
    for (const l of initial) this.leases.set(l.ip, l);
  }

  byIp(ip: string): Lease | undefined {
    return this.leases.get(ip);
  }

  byClient(clientKey: string): Lease | undefined {
    for (const l of this.leases.values()) if (l.clientKey === clientKey && l.state !== 'declined') return l;
    return undefined;
  }

  list(): readonly Lease[] {
    return [...this.leases.values()];
  }

  apply(ops: readonly LeaseOp[]): void {
    for (const o of ops) {
      if (o.op === 'put') {
        // one address per client: a new lease replaces the client's previous one
        for (const [ip, l] of this.leases) {
          if (l.clientKey === o.lease.clientKey && ip !== o.lease.ip && l.state !== 'declined') this.leases.delete(ip);
        }
        this.leases.set(o.lease.ip, o.lease);
      } else this.leases.delete(o.ip);
    }
  }

  sweep(now: number): number {
    let n = 0;
    for (const [ip, l] of this.leases) {
      if (l.expiresAt <= now) {
        this.leases.delete(ip);
        n++;
      }
    }
    return n;
  }
}

/** Leases in a JSON file: loaded once, rewritten (atomically) after every change. */
export class JsonFileLeaseStore extends MemoryLeaseStore {
  constructor(private readonly path: string) {
    super(loadLeaseFile(path));
  }

  override apply(ops: readonly LeaseOp[]): void {
    if (ops.length === 0) return;
    super.apply(ops);
    this.save();
  }

  override sweep(now: number): number {
    const n = super.sweep(now);
    if (n > 0) this.save();
    return n;
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 1, leases: this.list() }, null, 2)}\n`);
    renameSync(tmp, this.path);
  }
}

function loadLeaseFile(path: string): Lease[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new LeaseFileError(`cannot read lease file ${path}`, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new LeaseFileError(`lease file ${path} is not JSON`, { cause: e });
  }
  const leases = (parsed as { leases?: unknown }).leases;
  if (!Array.isArray(leases) || !leases.every(isLease)) throw new LeaseFileError(`lease file ${path} has no valid 'leases' list`);
  return leases;
}

function isLease(x: unknown): x is Lease {
  const l = x as Record<string, unknown>;
  return (
    typeof l === 'object' &&
    l !== null &&
    typeof l.ip === 'string' &&
    typeof l.clientKey === 'string' &&
    typeof l.mac === 'string' &&
    (l.state === 'offered' || l.state === 'bound' || l.state === 'declined') &&
    typeof l.expiresAt === 'number'
  );
}
