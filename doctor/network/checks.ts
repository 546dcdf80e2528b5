/**
 * `picluster doctor`'s checks: what breaks netboot in practice, each a pure function from what a
 * probe saw to pass/warn/fail rows with a fix. `runDoctor(config, probes)` asks the probes
 * (injected: tests pass fakes, the CLI passes doctor/network/probes.ts) and evaluates.
 */
import type { Config } from '../../common/config.ts';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckRow {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  readonly fix?: string;
}

export interface InterfaceFacts {
  readonly name: string;
  readonly up: boolean;
  readonly ipv4: readonly string[];
}

export type PortFacts = { readonly free: true } | { readonly free: false; readonly holder?: string };

/** One answer to the doctor's PXE DISCOVER. */
export interface DhcpAnswer {
  readonly server: string;
  /** yiaddr: an address offered (a real DHCP server) or 0.0.0.0 (a proxy). */
  readonly yiaddr: string;
  /** The reply carries a PXE boot offer: option 60 PXEClient, option 43, a boot file or siaddr. */
  readonly pxe: boolean;
  readonly bootFile?: string;
}

export interface StpFacts {
  /** The Linux bridge the boot interface is (or is a port of). */
  readonly bridge?: string;
  readonly stpEnabled?: boolean;
  readonly forwardDelaySec?: number;
}

export interface ImageFacts {
  readonly tftpRootExists: boolean;
  /** Present files the boot paths need (relative to tftpRoot), and missing ones. */
  readonly missing: readonly string[];
  readonly manifest?: { readonly valid: boolean; readonly version?: string; readonly archs: readonly string[]; readonly problem?: string };
}

export interface InventoryFacts {
  readonly path: string;
  readonly exists: boolean;
  readonly nodes: number;
  readonly problems: readonly string[];
  readonly powered: readonly { readonly node: string; readonly driver: string }[];
}

export interface PowerFacts {
  readonly node: string;
  readonly driver: string;
  readonly state?: string;
  readonly error?: string;
}

export interface ClockFacts {
  readonly now: number;
  /** From timedatectl/chrony; undefined when it cannot be told. */
  readonly synced?: boolean;
}

export interface DoctorProbes {
  interfaces(): Promise<readonly InterfaceFacts[]>;
  port(proto: 'udp' | 'tcp', port: number): Promise<PortFacts>;
  /** `nft list ruleset`, or undefined when nft is absent or not permitted. */
  firewall(): Promise<string | undefined>;
  dhcp(iface: string): Promise<readonly DhcpAnswer[] | { readonly error: string }>;
  stp(iface: string): Promise<StpFacts>;
  image(tftpRoot: string, httpRoot: string): Promise<ImageFacts>;
  inventory(path: string): Promise<InventoryFacts>;
  power(node: string): Promise<PowerFacts>;
  clock(): Promise<ClockFacts>;
}

export interface DoctorContext {
  /** Addresses of this machine (so our own proxy is not reported as a competitor). */
  readonly ownAddresses: readonly string[];
}

export function checkInterface(config: Config, ifs: readonly InterfaceFacts[]): CheckRow {
  const want = config.netboot.interface;
  const i = ifs.find((x) => x.name === want);
  const fix = `Set netboot.interface to the NIC on the nodes' segment (have: ${ifs.map((x) => x.name).join(', ') || 'none'}) and bring it up with an IPv4 address.`;
  if (!i) return { name: 'interface', status: 'fail', detail: `${want} does not exist`, fix };
  if (!i.up) return { name: 'interface', status: 'fail', detail: `${want} is down`, fix };
  if (!i.ipv4.length) return { name: 'interface', status: 'fail', detail: `${want} has no IPv4 address`, fix };
  const sa = config.netboot.serverAddress;
  if (sa && !i.ipv4.includes(sa))
    return { name: 'interface', status: 'fail', detail: `netboot.serverAddress ${sa} is not on ${want} (${i.ipv4.join(', ')})`, fix };
  return { name: 'interface', status: 'pass', detail: `${want} up, ${i.ipv4.join(', ')}` };
}

/** A port held by picluster itself (a running master) is fine. */
export function checkPort(name: string, proto: 'udp' | 'tcp', port: number, facts: PortFacts, fix: string): CheckRow {
  const label = `${name} ${proto}/${port}`;
  if (facts.free) return { name: label, status: 'pass', detail: 'free' };
  if (facts.holder && /picluster/.test(facts.holder)) return { name: label, status: 'pass', detail: `in use by picluster (${facts.holder})` };
  return { name: label, status: 'fail', detail: `in use${facts.holder ? ` by ${facts.holder}` : ''}`, fix };
}

/** Pure reading of `nft list ruleset`: an input hook with policy drop that never names the boot ports. */
export function checkFirewall(ruleset: string | undefined, httpPort: number): CheckRow {
  if (ruleset === undefined) return { name: 'firewall', status: 'skip', detail: 'nft not available (or not root): not checked' };
  const inputChains = [...ruleset.matchAll(/chain\s+(\S+)\s*\{([^}]*)\}/g)].filter((m) => /hook\s+input/.test(m[2]!));
  const dropping = inputChains.filter((m) => /policy\s+drop/.test(m[2]!));
  if (!dropping.length) return { name: 'firewall', status: 'pass', detail: inputChains.length ? 'input policy accepts' : 'no nftables input filter' };
  const opens = (re: RegExp) => re.test(ruleset);
  const missing = [
    ...(opens(/udp\s+dport\s+(\{[^}]*\b67\b|67\b|bootps)/) ? [] : ['udp 67']),
    ...(opens(/udp\s+dport\s+(\{[^}]*\b69\b|69\b|tftp)/) ? [] : ['udp 69']),
    ...(opens(new RegExp(`tcp\\s+dport\\s+(\\{[^}]*\\b${httpPort}\\b|${httpPort}\\b)`)) ? [] : [`tcp ${httpPort}`]),
  ];
  if (!missing.length) return { name: 'firewall', status: 'pass', detail: 'input policy drop, boot ports accepted' };
  return {
    name: 'firewall',
    status: 'fail',
    detail: `input policy drop and no accept for ${missing.join(', ')}`,
    fix: `Accept them on the boot interface, e.g. \`nft add rule inet filter input udp dport { 67, 69 } accept; nft add rule inet filter input tcp dport ${httpPort} accept\` (TFTP data uses ephemeral ports: keep ct state established,related accepted).`,
  };
}

export function checkDhcp(config: Config, answers: readonly DhcpAnswer[] | { readonly error: string }, ctx: DoctorContext): CheckRow[] {
  if ('error' in answers) return [{ name: 'dhcp servers', status: 'skip', detail: `could not send a DISCOVER: ${answers.error}` }];
  const others = answers.filter((a) => !ctx.ownAddresses.includes(a.server));
  const ours = answers.filter((a) => ctx.ownAddresses.includes(a.server));
  const rows: CheckRow[] = [];
  const list = (xs: readonly DhcpAnswer[]) =>
    xs.map((a) => `${a.server}${a.yiaddr !== '0.0.0.0' ? ` (offers ${a.yiaddr})` : ''}${a.pxe ? ` PXE${a.bootFile ? ` ${a.bootFile}` : ''}` : ''}`).join(', ');
  const pxeRivals = others.filter((a) => a.pxe);
  if (pxeRivals.length) {
    rows.push({
      name: 'dhcp pxe rivals',
      status: 'fail',
      detail: `another server answers PXE clients: ${list(pxeRivals)}`,
      fix: 'Switch off PXE/network-boot options on that server (router: next-server/boot file; another dnsmasq: its pxe-service/dhcp-boot lines), or the Pis boot from it instead.',
    });
  } else
    rows.push({
      name: 'dhcp pxe rivals',
      status: 'pass',
      detail: `no other PXE server answered${ours.length ? ` (picluster answered from ${ours[0]!.server})` : ''}`,
    });
  const leasing = others.filter((a) => a.yiaddr !== '0.0.0.0');
  if (config.netboot.mode === 'proxy') {
    rows.push(
      leasing.length
        ? { name: 'dhcp addresses', status: 'pass', detail: `addresses come from ${list(leasing)}` }
        : {
            name: 'dhcp addresses',
            status: 'fail',
            detail: 'no DHCP server offered an address: in proxy mode the nodes get theirs from your router',
            fix: 'Check the router’s DHCP server is on for this segment, or set netboot.mode: full (picluster leases addresses) on an isolated LAN.',
          },
    );
  } else if (leasing.length) {
    rows.push({
      name: 'dhcp addresses',
      status: 'fail',
      detail: `full mode, but another server also leases addresses: ${list(leasing)}`,
      fix: 'Two DHCP servers on one segment fight: turn the other one off, or use netboot.mode: proxy beside it.',
    });
  } else rows.push({ name: 'dhcp addresses', status: 'pass', detail: 'full mode, no other DHCP server' });
  return rows;
}

export function checkStp(iface: string, stp: StpFacts): CheckRow {
  const fix =
    'Enable portfast/edge on the ports of the nodes (or turn STP off on that bridge: `ip link set <br> type bridge stp_state 0`, or forward_delay 0): a Pi ROM gives up before a 15–30 s STP listening phase ends.';
  if (stp.bridge && stp.stpEnabled && (stp.forwardDelaySec ?? 15) > 2) {
    return {
      name: 'switch (stp)',
      status: 'warn',
      detail: `${iface} is on bridge ${stp.bridge} with STP on, forward delay ${stp.forwardDelaySec ?? '?'} s`,
      fix,
    };
  }
  return {
    name: 'switch (stp)',
    status: 'pass',
    detail: stp.bridge ? `bridge ${stp.bridge} without a slow STP phase` : 'not bridged here; on the switch, make node ports portfast/edge',
  };
}

export function checkImage(config: Config, img: ImageFacts): CheckRow[] {
  const fix = 'Run `npm run build-image` (or point netboot.tftpRoot/httpRoot at its image/dist).';
  if (!img.tftpRootExists)
    return [{ name: 'image', status: config.netboot.enabled ? 'fail' : 'warn', detail: `${config.netboot.tftpRoot} does not exist`, fix }];
  const rows: CheckRow[] = [
    img.missing.length
      ? { name: 'image files', status: 'fail', detail: `missing: ${img.missing.join(', ')}`, fix }
      : { name: 'image files', status: 'pass', detail: `boot files present in ${config.netboot.tftpRoot}` },
  ];
  const m = img.manifest;
  if (!m) rows.push({ name: 'image manifest', status: 'warn', detail: `no manifest.json in ${config.netboot.httpRoot}`, fix });
  else if (!m.valid) rows.push({ name: 'image manifest', status: 'fail', detail: m.problem ?? 'manifest.json is not valid', fix });
  else rows.push({ name: 'image manifest', status: 'pass', detail: `image ${m.version ?? '?'} (${m.archs.join(', ')})` });
  return rows;
}

export function checkInventory(config: Config, inv: InventoryFacts): CheckRow {
  if (!inv.exists) {
    return config.netboot.clients === 'known' && !config.netboot.enrollment
      ? {
          name: 'inventory',
          status: 'warn',
          detail: `${inv.path} does not exist: with clients: known no node will be answered`,
          fix: 'Write inventory/nodes.yaml (one entry per node: name, mac, serial, model, power), or turn on netboot.enrollment.',
        }
      : {
          name: 'inventory',
          status: 'pass',
          detail: `${inv.path} absent (clients: ${config.netboot.clients}${config.netboot.enrollment ? ', enrollment on' : ''})`,
        };
  }
  if (inv.problems.length) {
    return {
      name: 'inventory',
      status: 'fail',
      detail: inv.problems.slice(0, 5).join('; ') + (inv.problems.length > 5 ? `; … ${inv.problems.length - 5} more` : ''),
      fix: `Fix ${inv.path}: names, MACs and serials must be unique; MACs like aa:bb:cc:dd:ee:ff, serials 8 hex digits.`,
    };
  }
  return { name: 'inventory', status: 'pass', detail: `${inv.nodes} nodes in ${inv.path}` };
}

export function checkPower(p: PowerFacts): CheckRow {
  const name = `power ${p.node}`;
  if (p.error)
    return {
      name,
      status: 'fail',
      detail: `${p.driver}: ${p.error}`,
      fix: `The ${p.driver} device did not answer a status read: check its address, credentials and that it is reachable from the master.`,
    };
  if (p.state === 'unknown') return { name, status: 'pass', detail: `${p.driver}: no status verb (cannot tell)` };
  return { name, status: 'pass', detail: `${p.driver}: ${p.state}` };
}

export function checkClock(c: ClockFacts): CheckRow {
  const year = new Date(c.now).getUTCFullYear();
  const fix = 'Sync the clock (systemd-timesyncd or chrony): tokens, TLS and the boot timeline use it.';
  if (year < 2025) return { name: 'clock', status: 'fail', detail: `the clock says ${new Date(c.now).toISOString()}`, fix };
  if (c.synced === false) return { name: 'clock', status: 'warn', detail: 'not synchronised (NTP)', fix };
  return { name: 'clock', status: 'pass', detail: `${new Date(c.now).toISOString()}${c.synced ? ', NTP synchronised' : ''}` };
}

export async function runDoctor(config: Config, probes: DoctorProbes, options: { power?: boolean; dhcp?: boolean } = {}): Promise<CheckRow[]> {
  const ifs = await probes.interfaces();
  const rows: CheckRow[] = [checkInterface(config, ifs)];
  const own = ifs.flatMap((i) => i.ipv4);
  const dhcpPort = config.netboot.dhcp.port;
  const tftpPort = config.netboot.tftp.port;
  rows.push(
    checkPort(
      'dhcp',
      'udp',
      dhcpPort,
      await probes.port('udp', dhcpPort),
      'Another DHCP server runs on this machine (dnsmasq, isc-dhcp-server, a libvirt network): stop it or run picluster netboot in its place.',
    ),
  );
  rows.push(
    checkPort(
      'tftp',
      'udp',
      tftpPort,
      await probes.port('udp', tftpPort),
      'Another TFTP server runs here (tftpd-hpa, dnsmasq enable-tftp): stop it (`systemctl disable --now tftpd-hpa`).',
    ),
  );
  const pxePort = config.netboot.dhcp.pxePort;
  if (pxePort)
    rows.push(
      checkPort(
        'pxe',
        'udp',
        pxePort,
        await probes.port('udp', pxePort),
        'Another PXE proxy listens on the boot-server port (dnsmasq in proxy mode does): stop it; picluster answers there.',
      ),
    );
  rows.push(
    checkPort('http', 'tcp', config.http.port, await probes.port('tcp', config.http.port), 'Another service holds the HTTP port: set http.port, or stop it.'),
  );
  rows.push(checkFirewall(await probes.firewall(), config.http.port));
  if (options.dhcp !== false) rows.push(...checkDhcp(config, await probes.dhcp(config.netboot.interface), { ownAddresses: own }));
  rows.push(checkStp(config.netboot.interface, await probes.stp(config.netboot.interface)));
  rows.push(...checkImage(config, await probes.image(config.netboot.tftpRoot, config.netboot.httpRoot)));
  const inv = await probes.inventory(config.inventory.path);
  rows.push(checkInventory(config, inv));
  if (options.power !== false) for (const p of inv.powered) rows.push(checkPower(await probes.power(p.node)));
  rows.push(checkClock(await probes.clock()));
  return rows;
}

/** Exit code for scripts: 0 when nothing failed (warnings allowed), 1 otherwise. */
export function exitCodeOf(rows: readonly CheckRow[]): number {
  return rows.some((r) => r.status === 'fail') ? 1 : 0;
}
