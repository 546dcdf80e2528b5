/**
 * Joins netboot traffic that carries only a client IP to the machine behind it. HTTP fetches
 * of shared boot files (kernel, initramfs, runtime) and TFTP reads without a serial/MAC prefix
 * (iPXE's and GRUB's first files, GRUB's kernel) know the client's address and nothing else;
 * other boot events tie that address to a MAC (or Pi serial): the client's DHCP REQUEST to the
 * LAN's router (seen by the proxy: option 50), a full-mode lease, the iPXE script fetch
 * (`/boot/ipxe?mac=`), a prefixed TFTP read. The last such event for an IP wins.
 *
 * LAN trust, like the rest of netboot: a forged REQUEST can only misfile timeline entries.
 * Bounded (`maxEntries`, oldest out) and aged (`maxAgeMs`). Pure: time is the events' own `at`.
 */
import type { BootEvent } from '../../netboot/boot-event.ts';

export interface IpIdentity {
  readonly mac?: string;
  readonly serial?: string;
  readonly node?: string;
}

interface Entry extends IpIdentity {
  readonly at: number;
}

export const IP_JOIN_DEFAULTS = { maxEntries: 4096, maxAgeMs: 6 * 3600_000 } as const;

export class IpJoin {
  private readonly byIp = new Map<string, Entry>();

  constructor(private readonly limits: { maxEntries: number; maxAgeMs: number } = IP_JOIN_DEFAULTS) {}

  /** Learns ip → identity from an event that carries both. */
  learn(e: BootEvent): void {
    if (!e.ip || e.ip === '0.0.0.0' || (!e.mac && !e.serial)) return;
    const entry: Entry = { at: e.at, ...(e.mac ? { mac: e.mac } : {}), ...(e.serial ? { serial: e.serial } : {}), ...(e.node ? { node: e.node } : {}) };
    this.byIp.delete(e.ip);
    if (this.byIp.size >= this.limits.maxEntries) this.byIp.delete(this.byIp.keys().next().value!);
    this.byIp.set(e.ip, entry);
  }

  /** The identity an IP-only event belongs to, if one was learned recently enough. */
  resolve(e: BootEvent): IpIdentity | undefined {
    if (!e.ip || e.mac || e.serial || e.node) return undefined;
    const hit = this.byIp.get(e.ip);
    if (!hit || e.at - hit.at > this.limits.maxAgeMs) return undefined;
    const { at: _at, ...who } = hit;
    return who;
  }

  /** The event with the identity its IP was last seen with (unchanged when unknown). */
  join(e: BootEvent): BootEvent {
    this.learn(e);
    const who = this.resolve(e);
    return who ? { ...e, ...who } : e;
  }
}
