/**
 * Shared by the image e2e suites: build the image if image/dist lacks it (cache in
 * image/.cache), serve image/dist under /boot/ on loopback, start a real master on a free
 * port with a temp data dir, run qemu with user-mode networking (the guest reaches the
 * host's loopback as 10.0.2.2 and nothing else), and wait on markers — serial lines and
 * dispatcher events — never on fixed sleeps.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../../common/config.ts';
import { silentLogger } from '../../common/logger.ts';
import { deriveNodeToken } from '../../common/tokens.ts';
import { startMaster, type Master } from '../../dispatcher/master.ts';
import type { NodeView } from '../../dispatcher/views.ts';
import { buildImage, currentBuild, DEFAULT_OUT_DIR } from '../../image/build/build.ts';
import { DEFAULT_SOURCE_DATE_EPOCH, type Arch } from '../../image/build/inputs.ts';
import type { ArchManifest } from '../../image/build/manifest.ts';

export const DIST = DEFAULT_OUT_DIR;

export function haveTool(bin: string, args: readonly string[] = ['--version']): boolean {
  const r = spawnSync(bin, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** The manifest section for arch, building it first when image/dist lacks it or any output. */
export async function ensureImage(arch: Arch): Promise<ArchManifest> {
  const current = await currentBuild(DIST, arch);
  if (current) return current;
  const { manifest } = await buildImage({ arch, sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH, reuseExisting: true });
  return manifest;
}

/** Serves dir under /boot/ on 127.0.0.1:<free port> (what the master's /boot/ route does). */
export async function startBootServer(dir: string): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url.pathname);
    const rel = normalize(decodeURIComponent(url.pathname.replace(/^\/boot\//, '')));
    const path = join(dir, rel);
    if (!url.pathname.startsWith('/boot/') || rel.startsWith('..') || !path.startsWith(dir + sep) || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': statSync(path).size, 'content-type': 'application/octet-stream' });
    createReadStream(path).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestMaster {
  readonly master: Master;
  close(): Promise<void>;
  tokenFor(name: string): string;
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Resolves with the node's view once it is connected (registered). */
  waitForNode(name: string, timeoutMs: number, pred?: (n: NodeView) => boolean): Promise<NodeView>;
}

export async function startTestMaster(): Promise<TestMaster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'picluster-image-e2e-'));
  const config = loadConfig({
    env: {},
    overrides: { dataDir, 'http.host': '127.0.0.1', 'http.port': 0, 'inventory.path': join(dataDir, 'no-nodes.yaml'), 'netboot.httpRoot': DIST },
  });
  const master = await startMaster(config, { log: silentLogger() });
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${master.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${master.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  return {
    master,
    tokenFor: (name) => deriveNodeToken(master.clusterSecret, name),
    api,
    async waitForNode(name, timeoutMs, pred = () => true) {
      const ok = (n: NodeView | undefined): n is NodeView => !!n && n.name === name && n.connected && pred(n);
      const now = master.dispatcher.listNodes().find((n) => n.name === name);
      if (ok(now)) return now;
      return new Promise<NodeView>((resolve, reject) => {
        const timer = setTimeout(() => {
          master.dispatcher.off('node', onNode);
          reject(new Error(`node ${name} did not register within ${timeoutMs} ms`));
        }, timeoutMs);
        const onNode = (n: NodeView): void => {
          if (!ok(n)) return;
          clearTimeout(timer);
          master.dispatcher.off('node', onNode);
          resolve(n);
        };
        master.dispatcher.on('node', onNode);
      });
    },
    async close() {
      await master.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A qemu guest whose serial console is its stdout; lines are kept and can be awaited. */
export class Guest {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private partial = '';
  private readonly waiters = new Set<{ re: RegExp; resolve: (line: string) => void }>();
  readonly startedAt = performance.now();
  exited = false;

  constructor(bin: string, args: readonly string[]) {
    this.child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (b: Buffer): void => {
      this.partial += b.toString('utf8').replace(/\r/g, '').replace(/\0/g, '');
      let i: number;
      while ((i = this.partial.indexOf('\n')) >= 0) {
        const line = this.partial.slice(0, i);
        this.partial = this.partial.slice(i + 1);
        this.lines.push(line);
        if (process.env.PICLUSTER_E2E_SERIAL) process.stderr.write(`[guest] ${line}\n`);
        for (const w of [...this.waiters]) {
          if (w.re.test(line)) {
            this.waiters.delete(w);
            w.resolve(line);
          }
        }
      }
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.child.on('exit', () => (this.exited = true));
  }

  /** Resolves with the first serial line matching re (lines already seen from index `from` on count). */
  waitForLine(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        re,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`no serial line matching ${re} within ${timeoutMs} ms; last lines:\n${this.tail(25)}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** Seconds since qemu started. */
  elapsedS(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  tail(n: number): string {
    return this.lines.slice(-n).join('\n');
  }

  async stop(): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

export interface NodeExercise {
  readonly registeredS: number;
  readonly node: NodeView;
  readonly exec: { state: string; stdout: string };
  readonly pty: { state: string; stdout: string };
  readonly fn: { state: string; value: unknown };
  /** The ICU check: whether the full data is still held, and the agent node's German month (English: it has root + en). */
  readonly icu: { state: string; stdout: string };
  readonly idleRamMb: number | undefined;
  readonly memTotalMb: number | undefined;
  /** init-milestone steps of the agent's boot report, in time order, and whether a kernel log came with it. */
  readonly milestones: readonly string[];
  readonly kernelLog: boolean;
  /** Without a kernel-log event: the boot events seen and the agent's serial lines about its link and report. */
  readonly kernelLogWhy?: string;
}

interface JobView {
  id: number;
  state: string;
  result?: { outcome: string; exitCode?: number; value?: unknown; error?: unknown };
}

/** Every /init milestone of a node's first boot, in order, whichever way the runtime came (fetched, or preloaded). */
export const FIRST_BOOT_MILESTONES = [
  'kernel-start',
  'init',
  'modules-loaded',
  'link-up',
  'dhcp-lease',
  'runtime-fetched',
  'runtime-verified',
  'packages-mounted',
  'agent-started',
] as const;

/** A JS expression: January in German, with the full ICU data; "January" with root + en only. */
export const GERMAN_MONTH = "new Intl.DateTimeFormat('de-DE', { month: 'long', timeZone: 'UTC' }).format(new Date(Date.UTC(2024, 0, 15)))";

/**
 * What each boot test proves: the agent registers with the image version, runs an exec job
 * and a function job, and reports memory (idle RAM = MemTotal − MemAvailable).
 */
/**
 * For the kernel command line of a guest that exerciseNode drives: the full ICU data stays 3 s
 * after the node's last job (default 60), long enough to span the gaps between its jobs, short
 * enough that the release is seen at once.
 */
export const ICU_KEEP = 'picluster.icu_keep=3';

export async function exerciseNode(tm: TestMaster, guest: Guest, name: string, registerTimeoutMs: number): Promise<NodeExercise> {
  const node = await tm.waitForNode(name, registerTimeoutMs).catch((e: Error) => {
    throw new Error(`${e.message}; serial tail:\n${guest.tail(40)}`);
  });
  const registeredS = guest.elapsedS();
  const submit = async (body: unknown): Promise<JobView> => {
    const job = await tm.api<JobView>('POST', '/api/jobs', body);
    let done = job;
    for (let i = 0; i < 10 && done.state !== 'succeeded' && done.state !== 'failed' && done.state !== 'cancelled'; i++) {
      done = await tm.api<JobView>('GET', `/api/jobs/${job.id}/wait?timeoutMs=30000`);
    }
    return done;
  };
  const execJob = await submit({ name: 'image-e2e-exec', argv: ['/bin/sh', '-c', 'echo "hello from $(uname -m) $(cat /etc/picluster/arch)"'] });
  const output = await tm.api<{ stdout: string }>('GET', `/api/jobs/${execJob.id}/output`);
  // node-pty's cross-built pty.node loads on the node and runs a child in a pseudo-terminal
  const ptyScript = [
    "import { createRequire } from 'node:module';",
    "const pty = createRequire('/opt/picluster/agent/agent.mjs')('node-pty');",
    "const p = pty.spawn('/bin/sh', ['-c', 'echo pty-$((6*7))'], { cols: 80, rows: 24 });",
    "let out = ''; p.onData((d) => (out += d)); p.onExit(() => console.log(JSON.stringify(out.trim())));",
  ].join('\n');
  const ptyJob = await submit({ name: 'image-e2e-pty', argv: ['/opt/picluster/bin/node', '--input-type=module', '-e', ptyScript] });
  const pty = { state: ptyJob.state, stdout: (await tm.api<{ stdout: string }>('GET', `/api/jobs/${ptyJob.id}/output`)).stdout };
  const fnJob = await submit({
    name: 'image-e2e-function',
    // a Node job gets the full ICU data (fetched on demand, image/rootfs/icu-data): German month names
    source: `export default (a, b) => ({ sum: a + b, arch: process.arch, node: process.version, month: ${GERMAN_MONTH} })`,
    args: [2, 3],
  });
  // the full data is dropped once no job has run for picluster.icu_keep seconds (the console says
  // so); the agent's own node has only root + English ICU
  // (after the agent's console line that ends the function job: an earlier job's release may be
  // on the console before it, and this one may come before the master has answered the wait)
  const fnEnded = await guest.waitForLine(new RegExp(`"jobId":${fnJob.id}[,}].*"msg":"job finished"`), 60_000);
  await guest.waitForLine(/picluster icu-data: full ICU data dropped/, 60_000, guest.lines.indexOf(fnEnded) + 1);
  const icuJob = await submit({
    name: 'image-e2e-icu',
    argv: [
      '/bin/sh',
      '-c',
      `echo "icu-mounted=$(grep -c ' /run/picluster/icu ' /proc/mounts) icu-file=$(ls /run/picluster/icu.squashfs 2>/dev/null | wc -l)"; ` +
        `/opt/picluster/libexec/node -p "'agent-month=' + ${GERMAN_MONTH}"`,
    ],
  });
  const icuOutput = await tm.api<{ stdout: string }>('GET', `/api/jobs/${icuJob.id}/output`);
  // Health (memory) arrives with heartbeats; wait for one sent after the jobs (ICU data dropped).
  const after = Date.now();
  const withHealth = await tm.waitForNode(
    name,
    60_000,
    (n) => n.health?.memAvailableMb !== undefined && n.health?.memTotalMb !== undefined && (n.lastSeenAt ?? 0) > after,
  );
  // the boot report (kernel log + /init milestones) arrives right after the first welcome
  type Ev = { kind: string; at: number; detail?: Record<string, unknown> };
  let boot: Ev[];
  const reportBy = Date.now() + 60_000;
  for (;;) {
    boot = await tm.api<Ev[]>('GET', `/api/boot-events?node=${encodeURIComponent(name)}`);
    if (boot.some((e) => e.kind === 'kernel-log') || Date.now() > reportBy) break;
    await once(tm.master.dispatcher, 'bootEvent', { signal: AbortSignal.timeout(Math.max(1, reportBy - Date.now())) }).catch(() => undefined);
  }
  const total = withHealth.health?.memTotalMb;
  const avail = withHealth.health?.memAvailableMb;
  return {
    registeredS,
    node: withHealth ?? node,
    exec: { state: execJob.state, stdout: output.stdout },
    pty,
    fn: { state: fnJob.state, value: fnJob.result?.value },
    icu: { state: icuJob.state, stdout: icuOutput.stdout },
    idleRamMb: total !== undefined && avail !== undefined ? Math.round(total - avail) : undefined,
    memTotalMb: total,
    milestones: boot
      .filter((e) => e.kind === 'init-milestone')
      .sort((a, b) => a.at - b.at)
      .map((e) => String(e.detail?.step)),
    kernelLog: boot.some((e) => e.kind === 'kernel-log'),
    ...(boot.some((e) => e.kind === 'kernel-log')
      ? {}
      : {
          kernelLogWhy: [
            `boot events: ${boot.map((e) => e.kind).join(', ')}`,
            ...guest.lines.filter((l) => /boot report|welcome|disconnected|reconnect|silent|kmsg/i.test(l)).slice(-20),
          ].join('\n'),
        }),
  };
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'picluster.js');
/** The host's python3 for the Python client (Debian's, as python-client.test.ts uses); undefined = none. */
export const HOST_PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : undefined;

export interface PythonExercise {
  /** `picluster submit -- python3 -c …`: what it printed (JSON: python version, machine). */
  readonly cli: { readonly code: number; readonly stdout: string; readonly stderr: string };
  /** A Python function job submitted with clients/python: its result, or why it was not run. */
  readonly fn: { readonly value?: unknown; readonly skipped?: string; readonly error?: string };
}

/**
 * Proves python3 and the package layer on a booted node: an exec job through the CLI
 * (`picluster submit -- python3 -c …`) and a Python function job through clients/python (run
 * with the host's python3; skipped, saying so, without one).
 */
export async function exercisePython(tm: TestMaster): Promise<PythonExercise> {
  const exec = promisify(execFile);
  const env = { ...process.env, PICLUSTER_URL: tm.master.url, PICLUSTER_TOKEN: tm.master.adminToken };
  const code = 'import json, platform, sys; print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "machine": platform.machine()}))';
  const cli = await exec(process.execPath, [BIN, 'submit', '--timeout', '120000', '--', 'python3', '-c', code], { env, timeout: 180_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? String(e),
    }),
  );
  if (!HOST_PYTHON) return { cli, fn: { skipped: 'no /usr/bin/python3 on this machine for clients/python' } };
  const dir = mkdtempSync(join(tmpdir(), 'picluster-image-py-'));
  try {
    const script = join(dir, 'fn_job.py');
    writeFileSync(
      script,
      [
        'import json, sys',
        'from picluster import Cluster',
        '',
        'def on_node(a, b):',
        '    import platform, sys',
        '    return {"sum": a + b, "machine": platform.machine(), "python": "%d.%d" % sys.version_info[:2]}',
        '',
        'with Cluster() as c:',
        '    print(json.dumps(c.submit(on_node, 2, 3, timeout=120).result()))',
        '',
      ].join('\n'),
    );
    const r = await exec(HOST_PYTHON, [script], { env: { ...env, PYTHONPATH: join(REPO, 'clients', 'python', 'src') }, timeout: 180_000 }).then(
      (x) => ({ value: JSON.parse(x.stdout.trim().split('\n').pop() ?? 'null') as unknown }),
      (e: { stderr?: string; message?: string }) => ({ error: e.stderr || e.message || String(e) }),
    );
    return { cli, fn: r };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
