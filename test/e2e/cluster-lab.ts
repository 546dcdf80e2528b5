/**
 * The cluster e2e's lab (test/e2e/cluster.test.ts): namespaces it creates and removes, and the
 * processes in them, each stopped by PID.
 *
 *   [router ns: dnsmasq 10.213.40.2, the home DHCP server]
 *        │ veth
 *   [master ns: bridge 10.213.40.1 ── tap per guest (qemu, no disk)]
 *        picluster master (netboot proxy mode: DHCP 67/4011, TFTP 69, HTTP 8080)
 *        ns-forward.ts: unix socket → 127.0.0.1:8080, which the test reaches via a loopback port
 *
 * Guests get their address from dnsmasq and their boot files from picluster, exactly as
 * machines beside a home router would. Every qemu has a QMP socket: the master's `qemu` power
 * driver uses it, and so does the test (to freeze a guest).
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseQmpTarget, qmpConnect } from '../../dispatcher/power/qmp.ts';
import { BIN, waitFor } from './helpers/cluster-processes.ts';
import { inNs, Lab, uniqueName, type Proc } from './netboot-dhcp-netns.ts';

export const SUBNET = '10.213.40';
export const MASTER_IP = `${SUBNET}.1`;
const ROUTER_IP = `${SUBNET}.2`;
const HTTP_PORT = 8080;
const FORWARD = fileURLToPath(new URL('./helpers/ns-forward.ts', import.meta.url));
export const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));

export interface GuestSpec {
  readonly name: string;
  readonly mac: string;
  readonly bin: string;
  /** qemu arguments without the network and QMP ones (the lab adds those). */
  readonly args: readonly string[];
  /** The -device for the NIC, given the netdev id and the MAC. */
  readonly nic: (netdev: string, mac: string) => string;
}

export class LabGuest {
  proc: Proc | undefined;
  startedAt = 0;
  /** Serial lines of earlier runs of this guest (kept for the artifacts). */
  readonly history: string[] = [];
  constructor(
    readonly spec: GuestSpec,
    readonly tap: string,
    readonly qmpPath: string,
  ) {}

  get lines(): string[] {
    return this.proc?.lines ?? [];
  }

  /** One QMP command on the guest's socket (one client at a time: not while the master uses it). */
  async qmp(command: string): Promise<unknown> {
    const q = await qmpConnect(parseQmpTarget(this.qmpPath)!, 20_000, `qemu ${this.spec.name}`);
    try {
      return await q.execute(command);
    } finally {
      q.close();
    }
  }
}

export class ClusterLab {
  readonly lab = new Lab();
  readonly dir: string;
  readonly dataDir: string;
  masterNs = '';
  routerNs = '';
  bridge = '';
  router: Proc | undefined;
  master: Proc | undefined;
  /** Master logs of earlier runs (the master is killed and restarted). */
  readonly masterLogs: string[] = [];
  readonly guests = new Map<string, LabGuest>();
  private forwarder: Proc | undefined;
  private front: Server | undefined;
  private readonly sockets = new Set<Socket>();
  apiPort = 0;

  constructor() {
    this.dir = this.lab.tmp('cluster');
    mkdirSync(this.dir, { recursive: true });
    this.dataDir = join(this.dir, 'data');
    mkdirSync(this.dataDir);
  }

  get url(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  /** Namespaces, bridge, the router's dnsmasq, the API forwarder. */
  async setup(): Promise<void> {
    this.masterNs = this.lab.addNs('pcm');
    this.routerNs = this.lab.addNs('pcr');
    this.bridge = uniqueName('br');
    inNs(this.masterNs, 'ip', 'link', 'add', this.bridge, 'type', 'bridge');
    inNs(this.masterNs, 'ip', 'addr', 'add', `${MASTER_IP}/24`, 'dev', this.bridge);
    inNs(this.masterNs, 'ip', 'link', 'set', this.bridge, 'up');
    const uplink = this.lab.link({ ns: this.routerNs, addr: `${ROUTER_IP}/24` }, { ns: this.masterNs });
    inNs(this.masterNs, 'ip', 'link', 'set', uplink.b, 'master', this.bridge);
    this.router = this.lab.spawn(this.routerNs, 'dnsmasq', [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      `--interface=${uplink.a}`,
      '--bind-interfaces',
      `--dhcp-range=${SUBNET}.100,${SUBNET}.150,255.255.255.0,1h`,
      '--log-dhcp',
      '--log-facility=-',
      `--pid-file=${join(this.dir, 'dnsmasq.pid')}`,
      `--dhcp-leasefile=${join(this.dir, 'dnsmasq.leases')}`,
      '--user=root',
    ]);
    await this.router.waitText(new RegExp(`DHCP, IP range ${SUBNET.replace(/\./g, '\\.')}\\.100`), 20_000);
    const sock = join(this.dir, 'api.sock');
    this.forwarder = this.lab.node(this.masterNs, FORWARD, [sock, String(HTTP_PORT)]);
    await this.forwarder.waitJson((j) => j.ready === true, 30_000, 'the API forwarder');
    this.front = createServer((c) => {
      this.sockets.add(c);
      c.on('close', () => this.sockets.delete(c));
      const u = createConnection(sock);
      c.pipe(u).pipe(c);
      u.on('close', () => c.destroy());
      c.on('close', () => u.destroy());
      u.on('error', () => c.destroy());
      c.on('error', () => u.destroy());
    });
    await new Promise<void>((resolve) => this.front!.listen(0, '127.0.0.1', resolve));
    this.apiPort = (this.front.address() as AddressInfo).port;
  }

  /** A tap on the bridge for a guest, and the guest's QMP socket path. */
  addGuest(spec: GuestSpec): LabGuest {
    const tap = uniqueName('tp');
    inNs(this.masterNs, 'ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
    inNs(this.masterNs, 'ip', 'link', 'set', tap, 'master', this.bridge);
    inNs(this.masterNs, 'ip', 'link', 'set', tap, 'up');
    const g = new LabGuest(spec, tap, join(this.dir, `${spec.name}.qmp`));
    this.guests.set(spec.name, g);
    return g;
  }

  startGuest(g: LabGuest, extraArgs: readonly string[] = []): void {
    if (g.proc) g.history.push(...g.proc.lines, '--- qemu restarted ---');
    g.startedAt = Date.now();
    g.proc = this.lab.spawn(this.masterNs, g.spec.bin, [
      ...g.spec.args,
      ...extraArgs,
      '-qmp',
      `unix:${g.qmpPath},server=on,wait=off`,
      '-netdev',
      `tap,id=n0,ifname=${g.tap},script=no,downscript=no`,
      '-device',
      g.spec.nic('n0', g.spec.mac),
    ]);
    // also on disk as it comes (tail -f while the test runs; copied to the artifacts)
    const file = createWriteStream(join(this.dir, `serial-${g.spec.name}.log`), { flags: 'a' });
    g.proc.child.stdout!.on('data', (d: Buffer) => file.write(d));
    g.proc.child.on('exit', () => file.end());
  }

  /** Writes the master's config (picluster.yaml) and starts `picluster master` in the master ns. */
  async startMaster(config: string): Promise<Proc> {
    if (this.master) this.masterLogs.push(this.masterLog());
    const path = join(this.dir, 'picluster.yaml');
    writeFileSync(path, config);
    const m = this.lab.spawn(this.masterNs, process.execPath, [BIN, 'master', '--config', path]);
    this.master = m;
    const file = createWriteStream(join(this.dir, 'master.log'), { flags: 'a' });
    m.child.stdout!.on('data', (d: Buffer) => file.write(d));
    m.child.stderr!.on('data', (d: Buffer) => file.write(d));
    m.child.on('exit', () => file.end());
    let exited = false;
    await waitFor(
      'master /health',
      async () => {
        if (m.exitCode !== undefined) return (exited = true);
        const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
        return r?.ok;
      },
      180_000, // tsx compiles the master on start: a minute and more on a loaded 2-core machine
      100,
    );
    if (exited) throw new Error(`master exited (${m.exitCode}): ${this.masterLog().slice(-3000)}`);
    return m;
  }

  async killMaster(): Promise<void> {
    const m = this.master!;
    const exited = new Promise<void>((resolve) => (m.exitCode !== undefined ? resolve() : m.child.once('exit', () => resolve())));
    m.child.kill('SIGKILL');
    await exited;
  }

  masterLog(): string {
    const m = this.master;
    return m ? `${m.lines.join('\n')}\n${m.stderr}` : '';
  }

  token(): string {
    return readFileSync(join(this.dataDir, 'admin-token'), 'utf8').trim();
  }

  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${this.token()}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} → ${r.status}: ${text}`);
    return JSON.parse(text) as T;
  }

  /** A command in the master namespace (e.g. a TFTP fetch with curl). */
  inMasterNs(cmd: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.masterNs, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }).toString();
  }

  /** Serial logs, master logs, the router's log and the given timelines under test/e2e/out/<run>/. */
  writeArtifacts(timelines: Record<string, unknown>): string {
    const dir = join(OUT_DIR, `cluster-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    mkdirSync(dir, { recursive: true });
    for (const g of this.guests.values()) writeFileSync(join(dir, `serial-${g.spec.name}.log`), [...g.history, ...g.lines].join('\n') + '\n');
    writeFileSync(join(dir, 'master.log'), [...this.masterLogs, this.masterLog()].join('\n--- master restarted ---\n'));
    writeFileSync(join(dir, 'router-dnsmasq.log'), this.router ? `${this.router.lines.join('\n')}\n${this.router.stderr}` : '');
    writeFileSync(join(dir, 'timelines.json'), JSON.stringify(timelines, null, 2) + '\n');
    return dir;
  }

  /** PIDs of processes still running whose command line names this lab's directory. */
  leftovers(): number[] {
    const out: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      try {
        if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(this.dir)) out.push(Number(entry));
      } catch {
        /* gone */
      }
    }
    return out;
  }

  /** Namespaces of this lab that still exist. */
  namespacesLeft(names: readonly string[]): string[] {
    const list = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
    return names.filter((n) => list.includes(n));
  }

  async destroy(): Promise<void> {
    for (const c of this.sockets) c.destroy();
    await new Promise<void>((resolve) => (this.front ? this.front.close(() => resolve()) : resolve()));
    await this.lab.destroy();
  }
}
