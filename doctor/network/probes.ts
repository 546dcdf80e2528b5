/** The real probes behind `picluster doctor` (doctor/network/checks.ts decides what they mean). */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../../common/config.ts';
import { isPiclusterError } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import { readManifest } from '../../image/build/manifest.ts';
import { piBootLayout } from '../../image/build/pi-boot-layout.ts';
import { loadInventory, type Inventory } from '../../inventory/inventory.ts';
import { createPowerDriver, validatePowerConfig, type PowerConfig } from '../../dispatcher/power/driver.ts';
import type { DoctorProbes, InterfaceFacts, PortFacts } from './checks.ts';
import { probeDhcp } from './dhcp-probe.ts';

const run = promisify(execFile);

async function tool(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    return (await run(cmd, args, { timeout: 5000 })).stdout;
  } catch {
    return undefined;
  }
}

function sys(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `ss` names the process: `users:(("dnsmasq",pid=812,fd=4))`; the pid's cmdline tells picluster apart. */
export function holderFromSs(line: string): string | undefined {
  const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
  if (!m) return undefined;
  const cmdline = sys(`/proc/${m[2]}/cmdline`)?.replace(/\0/g, ' ').trim();
  return `${m[1]} (pid ${m[2]}${cmdline && /picluster/.test(cmdline) ? ', picluster' : ''})`;
}

async function bindTest(proto: 'udp' | 'tcp', port: number): Promise<PortFacts> {
  return new Promise((resolve) => {
    const done = (r: PortFacts) => resolve(r);
    if (proto === 'udp') {
      const s = dgram.createSocket('udp4');
      s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'EACCES' ? { free: true } : { free: false }));
      s.bind(port, () => s.close(() => done({ free: true })));
    } else {
      const s = net.createServer();
      s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'EACCES' ? { free: true } : { free: false }));
      s.listen(port, () => s.close(() => done({ free: true })));
    }
  });
}

function broadcastOf(address: string, netmask: string): string {
  const a = address.split('.').map(Number);
  const m = netmask.split('.').map(Number);
  return a.map((x, i) => (x | (~m[i]! & 255)) >>> 0).join('.');
}

export function realProbes(config: Config, options: { dhcpListenMs?: number } = {}): DoctorProbes {
  let inventory: Inventory | undefined;
  return {
    async interfaces(): Promise<InterfaceFacts[]> {
      const addrs = networkInterfaces();
      const names = new Set([...Object.keys(addrs), ...(existsSync('/sys/class/net') ? readdirSync('/sys/class/net') : [])]);
      return [...names].map((name) => {
        const state = sys(`/sys/class/net/${name}/operstate`);
        const ipv4 = (addrs[name] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
        return { name, up: state === undefined ? ipv4.length > 0 : state === 'up' || (state === 'unknown' && ipv4.length > 0), ipv4 };
      });
    },
    async port(proto, port) {
      const ss = await tool('ss', ['-H', '-lnp', proto === 'udp' ? '-u' : '-t', 'sport', '=', `:${port}`]);
      if (ss !== undefined) {
        const line = ss.split('\n').find((l) => l.trim());
        return line ? { free: false, ...(holderFromSs(line) ? { holder: holderFromSs(line)! } : {}) } : { free: true };
      }
      return bindTest(proto, port);
    },
    firewall: () => tool('nft', ['list', 'ruleset']),
    async dhcp(iface) {
      const a = (networkInterfaces()[iface] ?? []).find((x) => x.family === 'IPv4');
      return probeDhcp({ ...(a ? { broadcast: broadcastOf(a.address, a.netmask) } : {}), listenMs: options.dhcpListenMs ?? 4000 });
    },
    async stp(iface) {
      let bridge: string | undefined;
      try {
        bridge = basename(readlinkSync(`/sys/class/net/${iface}/brport/bridge`));
      } catch {
        if (existsSync(`/sys/class/net/${iface}/bridge`)) bridge = iface;
      }
      if (!bridge) return {};
      const stp = sys(`/sys/class/net/${bridge}/bridge/stp_state`);
      const delay = Number(sys(`/sys/class/net/${bridge}/bridge/forward_delay`));
      return { bridge, stpEnabled: stp !== undefined && stp !== '0', ...(Number.isFinite(delay) ? { forwardDelaySec: delay / 100 } : {}) };
    },
    async image(tftpRoot, httpRoot) {
      if (!existsSync(tftpRoot)) return { tftpRootExists: false, missing: [] };
      const missing = piBootLayout()
        .filter((f) => f.role !== 'runtime-initramfs' && !existsSync(join(tftpRoot, f.name)))
        .map((f) => f.name);
      const hasFile = existsSync(join(httpRoot, 'manifest.json'));
      const m = await readManifest(httpRoot);
      const archs = m ? Object.keys(m.builds) : [];
      const version = m ? Object.values(m.builds)[0]?.imageVersion : undefined;
      return {
        tftpRootExists: true,
        missing,
        ...(hasFile
          ? {
              manifest:
                m && archs.length
                  ? { valid: true, archs, ...(version ? { version } : {}) }
                  : { valid: false, archs, problem: 'manifest.json does not parse as an image manifest (schema 1 with builds)' },
            }
          : {}),
      };
    },
    async inventory(path) {
      const exists = existsSync(path);
      try {
        inventory = loadInventory(path, { validatePower: (power, at) => validatePowerConfig(power, { path: at }) });
      } catch (e) {
        const problems =
          isPiclusterError(e) && 'problems' in e
            ? (e.problems as { path: string; message: string }[]).map((p) => `${p.path}: ${p.message}`)
            : [(e as Error).message];
        return { path, exists, nodes: 0, problems, powered: [] };
      }
      const powered = inventory.nodes
        .filter((n) => n.power && (n.power as { driver?: string }).driver)
        .map((n) => ({ node: n.name, driver: String((n.power as { driver: string }).driver) }));
      return { path, exists, nodes: inventory.nodes.length, problems: [], powered };
    },
    async power(name) {
      const n = inventory?.nodes.find((x) => x.name === name);
      const cfg = n?.power as PowerConfig | undefined;
      const driverName = cfg?.driver ?? '?';
      if (!n || !cfg) return { node: name, driver: driverName, error: 'no power config' };
      try {
        const driver = createPowerDriver(cfg, { log: silentLogger(), node: { name, ...(n.mac ? { mac: n.mac } : {}) } });
        if (!driver.capabilities.status) return { node: name, driver: driverName, state: 'unknown' };
        const state = await Promise.race([
          driver.status(),
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no answer within 5 s')), 5000).unref()),
        ]);
        return { node: name, driver: driverName, state: String(state) };
      } catch (e) {
        return { node: name, driver: driverName, error: (e as Error).message };
      }
    },
    async clock() {
      const out = await tool('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
      const synced = out === undefined ? undefined : out.trim() === 'yes';
      return { now: Date.now(), ...(synced !== undefined ? { synced } : {}) };
    },
  };
}
