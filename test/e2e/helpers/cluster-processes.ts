/**
 * Real-process harness for end-to-end tests: a master and agents as separate `picluster`
 * processes on loopback, each stopped by its PID. Waits poll the master's API with a bound,
 * never sleep a fixed time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveNodeToken } from '../../../common/tokens.ts';

export const BIN = fileURLToPath(new URL('../../../bin/picluster.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Polls `fn` until it returns a truthy value, every `intervalMs`, at most `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `picluster <args>` (or, with `script`, `node --import tsx <script> <args>`), optionally
 * under `wrap` (e.g. `ip netns exec NS`, which execs: the PID is the node process's).
 */
export function startProc(args: string[], env: Record<string, string>, o: { wrap?: readonly string[]; script?: string; stdin?: boolean } = {}): Proc {
  const node = [process.execPath, ...(o.script ? ['--import', 'tsx', o.script] : [BIN]), ...args];
  const argv = [...(o.wrap ?? []), ...node];
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface MasterProc extends Proc {
  readonly url: string;
}

export class ClusterHarness {
  readonly dataDir = tempDir('picluster-e2e-');
  port = 0;
  master: MasterProc | undefined;
  readonly agents = new Map<string, Proc>();

  constructor(private readonly env: Record<string, string> = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async startMaster(timeoutMs = 30_000): Promise<MasterProc> {
    if (!this.port) this.port = await freePort();
    const p = startProc(['master'], {
      PICLUSTER_DATA_DIR: this.dataDir,
      PICLUSTER_HTTP_PORT: String(this.port),
      PICLUSTER_HTTP_HOST: '127.0.0.1',
      PICLUSTER_INVENTORY: join(this.dataDir, 'no-inventory.yaml'),
      PICLUSTER_LOG_LEVEL: 'warn',
      ...this.env,
    });
    const master = { ...p, url: this.url };
    this.master = master;
    await waitFor(
      'master /health',
      async () => {
        if (p.child.exitCode !== null) throw new Error(`master exited: ${p.output().slice(-2000)}`);
        const r = await fetch(`${this.url}/health`).catch(() => undefined);
        return r?.ok;
      },
      timeoutMs,
    );
    return master;
  }

  token(): string {
    return readFileSync(join(this.dataDir, 'admin-token'), 'utf8').trim();
  }

  secret(): string {
    return readFileSync(join(this.dataDir, 'cluster-secret'), 'utf8').trim();
  }

  startAgent(name: string, extra: string[] = []): Proc {
    const p = startProc(
      [
        'agent',
        '--dispatcher',
        `ws://127.0.0.1:${this.port}/agent`,
        '--name',
        name,
        '--work-dir',
        join(this.dataDir, 'agents', name),
        '--log-level',
        'warn',
        ...extra,
      ],
      {
        PICLUSTER_AGENT_TOKEN: deriveNodeToken(this.secret(), name),
      },
    );
    this.agents.set(name, p);
    return p;
  }

  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${this.token()}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} → ${r.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  async waitForNodes(names: string[], state: string | RegExp = /online|busy/, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `nodes ${names.join(',')} ${state}`,
      async () => {
        const nodes = await this.api<{ name: string; state: string; connected: boolean }[]>('GET', '/api/nodes');
        return names.every((n) => nodes.some((x) => x.name === n && x.connected && (typeof state === 'string' ? x.state === state : state.test(x.state))));
      },
      timeoutMs,
    );
  }

  /** Stops every process this harness started (by PID), agents first. */
  async stop(): Promise<void> {
    for (const a of this.agents.values()) {
      try {
        process.kill(a.pid, 'SIGCONT');
      } catch {
        /* already gone */
      }
    }
    await Promise.all([...this.agents.values()].map((a) => a.kill()));
    await this.master?.kill();
  }
}
