/**
 * The chaos run's plumbing, each piece undone by `ChaosEnv.destroy()` (also after a failure):
 * two network namespaces joined by a veth (bench/netns.ts; the master in one, the agents in the
 * other), an nftables table in the master's namespace whose drop rules cut the link, a small
 * tmpfs as the data directory with a ballast file that fills it, and the master's API reached
 * from the host through a unix socket forwarded into its namespace (test/e2e/helpers/ns-forward.ts).
 * Needs root, iproute2 and nftables.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProc, waitFor, type Proc } from '../test/e2e/helpers/cluster-processes.ts';
import { ShapedLink, which } from './netns.ts';

const FORWARD = fileURLToPath(new URL('../test/e2e/helpers/ns-forward.ts', import.meta.url));
const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 }).toString();

export const MASTER_PORT = 18080;

/** Why the chaos run cannot run here, or undefined. */
export function chaosUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, nftables, tmpfs)';
  for (const t of ['ip', 'nft', 'mount']) if (!which(t)) return `needs ${t} (Debian iproute2, nftables, mount)`;
  return undefined;
}

export class ChaosEnv {
  readonly link: ShapedLink;
  readonly mnt = mkdtempSync(join(tmpdir(), 'picluster-chaos-'));
  readonly dataDir = join(this.mnt, 'data');
  readonly socket = join(tmpdir(), `picluster-chaos-${process.pid}.sock`);
  private mounted = false;
  private forward: Proc | undefined;
  private readonly ballast = join(this.mnt, 'ballast');

  constructor(private readonly tmpfsMb: number) {
    this.link = new ShapedLink(`pcc${process.pid % 100_000}`, { rateMbit: 0, clients: 1 });
  }

  get masterUrl(): string {
    return `http://${this.link.serverAddress}:${MASTER_PORT}`;
  }

  async create(): Promise<void> {
    run('mount', ['-t', 'tmpfs', '-o', `size=${this.tmpfsMb}m`, 'tmpfs', this.mnt]);
    this.mounted = true;
    this.link.create();
    const ns = this.link.serverNs;
    run('ip', ['netns', 'exec', ns, 'nft', 'add', 'table', 'inet', 'chaos']);
    for (const [chain, hook] of [
      ['in', 'input'],
      ['out', 'output'],
    ] as const)
      run('ip', ['netns', 'exec', ns, 'nft', 'add', 'chain', 'inet', 'chaos', chain, `{ type filter hook ${hook} priority 0; policy accept; }`]);
    this.forward = startProc([this.socket, String(MASTER_PORT)], {}, { wrap: ['ip', 'netns', 'exec', ns], script: FORWARD });
    await waitFor('ns-forward ready', () => this.forward!.output().includes('"ready"'), 30_000);
  }

  /** Drops every packet on the veth (both ways) in the master's namespace: TCP links hang, no RST. */
  cut(): void {
    const ns = this.link.serverNs;
    run('ip', ['netns', 'exec', ns, 'nft', 'add', 'rule', 'inet', 'chaos', 'in', 'iifname', this.link.serverIf, 'drop']);
    run('ip', ['netns', 'exec', ns, 'nft', 'add', 'rule', 'inet', 'chaos', 'out', 'oifname', this.link.serverIf, 'drop']);
  }

  heal(): void {
    const ns = this.link.serverNs;
    for (const chain of ['in', 'out']) run('ip', ['netns', 'exec', ns, 'nft', 'flush', 'chain', 'inet', 'chaos', chain]);
  }

  freeBytes(): number {
    const s = statfsSync(this.mnt);
    return Number(s.bavail) * Number(s.bsize);
  }

  /** Writes the ballast until `leaveBytes` are free or the disk is full (ENOSPC). */
  fill(leaveBytes = 0): void {
    const fd = openSync(this.ballast, 'a');
    const chunk = Buffer.alloc(256 * 1024, 1);
    try {
      for (let free = this.freeBytes(); free > leaveBytes; free = this.freeBytes())
        writeSync(fd, chunk, 0, Math.min(chunk.length, Math.max(4096, free - leaveBytes)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    } finally {
      closeSync(fd);
    }
  }

  unfill(): void {
    rmSync(this.ballast, { force: true });
  }

  /** Starts `picluster master` in the master's namespace on the data dir (env: its config). */
  startMaster(env: Record<string, string>): Proc {
    return startProc(
      ['master'],
      {
        PICLUSTER_DATA_DIR: this.dataDir,
        PICLUSTER_HTTP_PORT: String(MASTER_PORT),
        PICLUSTER_HTTP_HOST: '0.0.0.0',
        PICLUSTER_INVENTORY: join(this.mnt, 'no-inventory.yaml'),
        PICLUSTER_LOG_LEVEL: 'warn',
        ...env,
      },
      { wrap: ['ip', 'netns', 'exec', this.link.serverNs] },
    );
  }

  /** Starts a process (`node --import tsx <script> <args>`) in the agents' namespace, stdin piped. */
  startInAgentsNs(script: string, args: string[]): Proc {
    return startProc(args, {}, { wrap: ['ip', 'netns', 'exec', this.link.clientNs], script, stdin: true });
  }

  /** One API call through the forwarded socket. */
  api<T = unknown>(token: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; json: T }> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socket,
          method,
          path,
          timeout: timeoutMs,
          headers: { authorization: `Bearer ${token}`, host: 'master', ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => {
            const text = Buffer.concat(parts).toString();
            try {
              resolve({ status: res.statusCode ?? 0, json: (text ? JSON.parse(text) : undefined) as T });
            } catch (e) {
              reject(e as Error);
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  async destroy(): Promise<void> {
    await this.forward?.kill().catch(() => {});
    rmSync(this.socket, { force: true });
    this.link.destroy();
    if (this.mounted) {
      try {
        run('umount', ['-l', this.mnt]);
      } catch {
        // already unmounted
      }
      this.mounted = false;
    }
    rmSync(this.mnt, { recursive: true, force: true });
  }
}

/** Resident set size of a process in bytes (VmRSS), or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
