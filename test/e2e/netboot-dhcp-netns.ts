/**
 * Network-namespace plumbing for the DHCP e2e tests: namespaces and veth pairs the test
 * creates itself (unique names per run, addresses in 10.213.x.x inside them only),
 * processes started inside them (stopped by PID), and line-oriented JSON from their
 * stdout. Traffic never leaves the test's own namespaces.
 * Part of the tests of the hand-written DHCP server (netboot/dhcp: the npm `dhcp`
 * package 0.2.20 crashes on a Pi's DISCOVER, has no proxy mode and ACKs requests meant
 * for other servers).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const HARNESS = fileURLToPath(new URL('./netboot-dhcp-harness.ts', import.meta.url));
export const UDP_TOOL = fileURLToPath(new URL('./netboot-dhcp-udp.ts', import.meta.url));

export function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = `${dir}/${tool}`;
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Why netns tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)';
  if (!which('ip')) return 'iproute2 (`ip`) is not installed';
  const probe = `pcdhcp-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
  } catch (e) {
    return `cannot create a network namespace: ${String((e as Error).message).split('\n')[0]}`;
  }
  return undefined;
}

let seq = 0;
/** A short unique name (interface names are limited to 15 characters). */
export function uniqueName(prefix: string): string {
  return `${prefix}${(process.pid % 10000).toString(36)}${(seq++).toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`.slice(0, 15);
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString();
}

export function inNs(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString();
}

/** The namespaces a test made; `destroy()` removes them all (bounded, never throws). */
export class Lab {
  readonly namespaces: string[] = [];
  private readonly procs: Proc[] = [];
  private tmpDir: string | undefined;

  /** A path in this lab's own temp directory (removed by `destroy()`). */
  tmp(name: string): string {
    this.tmpDir ??= mkdtempSync(join(tmpdir(), 'picluster-dhcp-e2e-'));
    return join(this.tmpDir, name);
  }

  addNs(prefix = 'pcd'): string {
    const ns = uniqueName(prefix);
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** A veth pair between two namespaces, both ends up and addressed (`10.213.x.y/24`). */
  link(a: { ns: string; addr: string }, b: { ns: string; addr?: string }): { a: string; b: string } {
    const ea = uniqueName('va');
    const eb = uniqueName('vb');
    ip('link', 'add', ea, 'netns', a.ns, 'type', 'veth', 'peer', 'name', eb, 'netns', b.ns);
    inNs(a.ns, 'ip', 'addr', 'add', a.addr, 'dev', ea);
    inNs(a.ns, 'ip', 'link', 'set', ea, 'up');
    if (b.addr) inNs(b.ns, 'ip', 'addr', 'add', b.addr, 'dev', eb);
    inNs(b.ns, 'ip', 'link', 'set', eb, 'up');
    return { a: ea, b: eb };
  }

  spawn(ns: string, cmd: string, args: string[], opts: { cwd?: string } = {}): Proc {
    const p = new Proc(spawn('ip', ['netns', 'exec', ns, cmd, ...args], { cwd: opts.cwd ?? REPO, stdio: ['pipe', 'pipe', 'pipe'] }));
    this.procs.push(p);
    return p;
  }

  /** Runs a TypeScript tool of this folder inside `ns` with node + tsx. */
  node(ns: string, script: string, args: string[]): Proc {
    return this.spawn(ns, process.execPath, ['--import', 'tsx', script, ...args]);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
    for (const ns of this.namespaces.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
      } catch {
        // already gone
      }
    }
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

/** A child process whose stdout is read as lines; JSON lines are kept as objects. */
export class Proc {
  readonly lines: string[] = [];
  readonly json: Record<string, unknown>[] = [];
  stderr = '';
  exitCode: number | null | undefined;
  private readonly bus = new EventEmitter();

  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        if (line.startsWith('{')) {
          try {
            this.json.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            // not JSON after all
          }
        }
        this.bus.emit('line');
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 200_000) this.stderr = this.stderr.slice(-100_000);
      this.bus.emit('line');
    });
    child.on('exit', (code) => {
      this.exitCode = code;
      this.bus.emit('line');
      this.bus.emit('exit');
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Waits for a JSON line matching `pred` (already received or future). */
  async waitJson<T = Record<string, unknown>>(pred: (j: Record<string, unknown>) => boolean, timeoutMs: number, what = 'a matching line'): Promise<T> {
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const hit = this.json.find(pred);
      if (hit) return hit as T;
      if (this.exitCode !== undefined) throw new Error(`process exited (${this.exitCode}) before ${what}; stderr: ${this.stderr.slice(-2000)}`);
      try {
        await once(this.bus, 'line', { signal });
      } catch {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`);
      }
    }
  }

  /** Waits for stdout/stderr text matching `re`. */
  async waitText(re: RegExp, timeoutMs: number): Promise<string> {
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const all = `${this.lines.join('\n')}\n${this.stderr}`;
      const m = re.exec(all);
      if (m) return m[0];
      if (this.exitCode !== undefined) throw new Error(`process exited (${this.exitCode}) before ${re}; output: ${all.slice(-2000)}`);
      try {
        await once(this.bus, 'line', { signal });
      } catch {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${re}; output: ${all.slice(-2000)}`);
      }
    }
  }

  write(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** SIGTERM by PID, SIGKILL after 3 s; resolves when it has exited. */
  async stop(): Promise<void> {
    if (this.exitCode !== undefined || this.child.pid === undefined) return;
    const exited = once(this.bus, 'exit');
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}
