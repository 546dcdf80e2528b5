/**
 * Network plumbing for benches: two namespaces the bench creates (server, clients), one
 * veth pair between them shaped with `tc` (tbf, both directions), addresses in
 * 10.251.0.0/16 that exist only inside them, and removal of all of it afterwards. Traffic
 * never leaves the bench's own namespaces. Needs root and iproute2 (`ip`, `tc`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const which = (tool: string): boolean => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, tool)));

const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).toString();

export interface ShapedLinkOptions {
  /** Link rate in Mbit/s for `tc tbf` on both ends (0 = unshaped). */
  readonly rateMbit: number;
  /** Client addresses to add on the client end (10.251.1.1, 10.251.1.2, …). */
  readonly clients: number;
}

export class ShapedLink {
  readonly serverNs: string;
  readonly clientNs: string;
  readonly serverIf = 'bss0';
  readonly clientIf = 'bsc0';
  readonly serverAddress = '10.251.0.1';
  readonly clientAddresses: string[];
  private created = false;

  constructor(
    private readonly tag: string,
    private readonly options: ShapedLinkOptions,
  ) {
    this.serverNs = `${tag}s`;
    this.clientNs = `${tag}c`;
    this.clientAddresses = Array.from({ length: options.clients }, (_, i) => `10.251.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`);
  }

  /** Why the link cannot be built here, or undefined. */
  static unavailable(): string | undefined {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
    for (const t of ['ip', 'tc']) if (!which(t)) return `needs ${t} (Debian iproute2)`;
    return undefined;
  }

  /** argv to run a command inside a namespace. */
  exec(ns: string, argv: readonly string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', ns, ...argv]];
  }

  create(): void {
    this.created = true;
    const { serverNs: s, clientNs: c, serverIf, clientIf } = this;
    run('ip', ['netns', 'add', s]);
    run('ip', ['netns', 'add', c]);
    run('ip', ['link', 'add', serverIf, 'netns', s, 'type', 'veth', 'peer', 'name', clientIf, 'netns', c]);
    for (const [ns, dev] of [
      [s, serverIf],
      [c, clientIf],
    ] as const) {
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      if (this.options.rateMbit > 0) {
        // tbf: token bucket at the link rate; a burst of ~1 ms of traffic, 50 ms queue.
        const burst = Math.max(32 * 1024, Math.round((this.options.rateMbit * 1e6) / 8 / 1000));
        run('ip', [
          'netns',
          'exec',
          ns,
          'tc',
          'qdisc',
          'add',
          'dev',
          dev,
          'root',
          'tbf',
          'rate',
          `${this.options.rateMbit}mbit`,
          'burst',
          String(burst),
          'latency',
          '50ms',
        ]);
      }
    }
    // Limited broadcast (DHCP) needs a route out of the link: a default route on each side.
    run('ip', ['-n', s, 'addr', 'add', `${this.serverAddress}/16`, 'dev', serverIf]);
    run('ip', ['-n', s, 'route', 'add', 'default', 'dev', serverIf]);
    for (const a of this.clientAddresses) run('ip', ['-n', c, 'addr', 'add', `${a}/16`, 'dev', clientIf]);
    run('ip', ['-n', c, 'route', 'add', 'default', 'dev', clientIf]);
  }

  /** Bytes and packets the server end sent (what the shaper let through towards clients). */
  serverTxStats(): { bytes: number; packets: number } {
    const out = run('ip', ['-n', this.serverNs, '-s', '-j', 'link', 'show', this.serverIf]);
    const j = JSON.parse(out) as { stats64?: { tx?: { bytes: number; packets: number } } }[];
    return { bytes: j[0]?.stats64?.tx?.bytes ?? 0, packets: j[0]?.stats64?.tx?.packets ?? 0 };
  }

  destroy(): void {
    if (!this.created) return;
    for (const ns of [this.serverNs, this.clientNs]) {
      try {
        run('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  }
}
