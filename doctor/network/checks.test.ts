import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../common/config.ts';
import { decodeDhcp, encodeDhcp, type DhcpMessage } from '../../netboot/dhcp/codec.ts';
import { clientInfo, getOption, ipOption, Opt, opt, typeOption } from '../../netboot/dhcp/options.ts';
import { checkNodes, throttledNow } from '../nodes.ts';
import { checkClock, checkDhcp, checkFirewall, checkInventory, checkStp, exitCodeOf, runDoctor, type DoctorProbes } from './checks.ts';
import { classifyOffer, discoverPacket } from './dhcp-probe.ts';
import { holderFromSs } from './probes.ts';

const NOW = Date.UTC(2026, 11, 2, 5, 0, 0);
const config = (o: Record<string, unknown> = {}): Config => loadConfig({ overrides: { 'netboot.enabled': true, 'netboot.interface': 'eth0', ...o } });

/** A machine where everything is right; each test breaks one probe. */
function healthy(over: Partial<DoctorProbes> = {}): DoctorProbes {
  return {
    interfaces: async () => [{ name: 'eth0', up: true, ipv4: ['192.168.1.2'] }],
    port: async () => ({ free: true }),
    firewall: async () => 'table inet filter {\n chain input {\n type filter hook input priority 0; policy accept;\n }\n}',
    dhcp: async () => [{ server: '192.168.1.1', yiaddr: '192.168.1.50', pxe: false }],
    stp: async () => ({}),
    image: async () => ({ tftpRootExists: true, missing: [], manifest: { valid: true, version: '2026.12.1', archs: ['arm64'] } }),
    inventory: async (path) => ({ path, exists: true, nodes: 2, problems: [], powered: [{ node: 'n1', driver: 'http' }] }),
    power: async (node) => ({ node, driver: 'http', state: 'on' }),
    clock: async () => ({ now: NOW, synced: true }),
    ...over,
  };
}

const row = async (probes: DoctorProbes, name: string, c = config()) => (await runDoctor(c, probes)).find((r) => r.name === name);

describe('picluster doctor checks (injected probes)', () => {
  it('a healthy machine passes every check and exits 0', async () => {
    const rows = await runDoctor(config(), healthy());
    expect(rows.map((r) => [r.name, r.status])).toEqual([
      ['interface', 'pass'],
      ['dhcp udp/67', 'pass'],
      ['tftp udp/69', 'pass'],
      ['pxe udp/4011', 'pass'],
      ['http tcp/8080', 'pass'],
      ['firewall', 'pass'],
      ['dhcp pxe rivals', 'pass'],
      ['dhcp addresses', 'pass'],
      ['switch (stp)', 'pass'],
      ['image files', 'pass'],
      ['image manifest', 'pass'],
      ['inventory', 'pass'],
      ['power n1', 'pass'],
      ['clock', 'pass'],
    ]);
    expect(exitCodeOf(rows)).toBe(0);
  });

  it.each([
    ['interface', { interfaces: async () => [{ name: 'eth0', up: false, ipv4: [] }] }, 'fail', /eth0 is down/],
    ['interface', { interfaces: async () => [{ name: 'wlan0', up: true, ipv4: ['10.0.0.2'] }] }, 'fail', /eth0 does not exist/],
    ['dhcp udp/67', { port: async (p: string, n: number) => (n === 67 ? { free: false, holder: 'dnsmasq (pid 812)' } : { free: true }) }, 'fail', /dnsmasq/],
    [
      'tftp udp/69',
      { port: async (p: string, n: number) => (n === 69 ? { free: false, holder: 'node (pid 9, picluster)' } : { free: true }) },
      'pass',
      /picluster/,
    ],
    [
      'dhcp pxe rivals',
      { dhcp: async () => [{ server: '192.168.1.1', yiaddr: '192.168.1.50', pxe: true, bootFile: 'pxelinux.0' }] },
      'fail',
      /192\.168\.1\.1 \(offers 192\.168\.1\.50\) PXE pxelinux\.0/,
    ],
    ['dhcp addresses', { dhcp: async () => [] }, 'fail', /no DHCP server offered an address/],
    ['dhcp servers', { dhcp: async () => ({ error: 'bind EACCES 0.0.0.0:68' }) }, 'skip', /EACCES/],
    ['switch (stp)', { stp: async () => ({ bridge: 'br0', stpEnabled: true, forwardDelaySec: 15 }) }, 'warn', /br0 with STP on, forward delay 15 s/],
    ['image files', { image: async () => ({ tftpRootExists: true, missing: ['start4.elf'] }) }, 'fail', /missing: start4\.elf/],
    ['image manifest', { image: async () => ({ tftpRootExists: true, missing: [], manifest: { valid: false, archs: [], problem: 'bad' } }) }, 'fail', /bad/],
    ['image', { image: async () => ({ tftpRootExists: false, missing: [] }) }, 'fail', /does not exist/],
    [
      'inventory',
      { inventory: async (path: string) => ({ path, exists: true, nodes: 0, problems: ['nodes[1].mac: duplicate of node6.lan'], powered: [] }) },
      'fail',
      /duplicate/,
    ],
    ['power n1', { power: async (node: string) => ({ node, driver: 'http', error: 'connect ECONNREFUSED 192.168.1.20:80' }) }, 'fail', /ECONNREFUSED/],
    ['clock', { clock: async () => ({ now: Date.UTC(1970, 0, 1), synced: false }) }, 'fail', /1970/],
    ['clock', { clock: async () => ({ now: NOW, synced: false }) }, 'warn', /not synchronised/],
  ] as const)('%s: %s', async (name, over, status, detail) => {
    const r = await row(healthy(over as Partial<DoctorProbes>), name);
    expect(r).toMatchObject({ status });
    expect(r!.detail).toMatch(detail);
    if (status === 'fail' || status === 'warn') expect(r!.fix).toBeTruthy();
  });

  it('any fail makes the exit code 1; warnings alone do not', async () => {
    expect(exitCodeOf(await runDoctor(config(), healthy({ stp: async () => ({ bridge: 'br0', stpEnabled: true, forwardDelaySec: 15 }) })))).toBe(0);
    expect(exitCodeOf(await runDoctor(config(), healthy({ dhcp: async () => [] })))).toBe(1);
  });

  it('our own proxy answering is not a rival; in full mode another leasing server is', () => {
    const answers = [
      { server: '192.168.1.2', yiaddr: '0.0.0.0', pxe: true },
      { server: '192.168.1.1', yiaddr: '192.168.1.50', pxe: false },
    ];
    expect(checkDhcp(config(), answers, { ownAddresses: ['192.168.1.2'] }).map((r) => r.status)).toEqual(['pass', 'pass']);
    expect(checkDhcp(config({ 'netboot.mode': 'full' }), answers, { ownAddresses: ['192.168.1.2'] }).map((r) => r.status)).toEqual(['pass', 'fail']);
  });

  it.each([
    ['no ruleset', undefined, 'skip'],
    ['policy drop without the boot ports', 'table inet filter { chain input { type filter hook input priority 0; policy drop; tcp dport 22 accept } }', 'fail'],
    [
      'policy drop with them',
      'table inet filter { chain input { type filter hook input priority 0; policy drop; udp dport { 67, 69 } accept; tcp dport 8080 accept } }',
      'pass',
    ],
  ] as const)('firewall: %s', (_, ruleset, status) => {
    expect(checkFirewall(ruleset, 8080).status).toBe(status);
  });

  it('inventory absent: a warning with clients: known, fine with clients: any', () => {
    const facts = { path: 'x.yaml', exists: false, nodes: 0, problems: [], powered: [] };
    expect(checkInventory(config(), facts).status).toBe('warn');
    expect(checkInventory(config({ 'netboot.clients': 'any' }), facts).status).toBe('pass');
  });

  it('stp and clock evaluators', () => {
    expect(checkStp('eth0', { bridge: 'br0', stpEnabled: false }).status).toBe('pass');
    expect(checkClock({ now: NOW }).status).toBe('pass');
  });

  it('ss output names the holder', () => {
    expect(holderFromSs('UNCONN 0 0 0.0.0.0:67 0.0.0.0:* users:(("dnsmasq",pid=4242424,fd=4))')).toBe('dnsmasq (pid 4242424)');
    expect(holderFromSs('UNCONN 0 0 0.0.0.0:67 0.0.0.0:*')).toBeUndefined();
  });
});

describe('the PXE DISCOVER probe (pure parts)', () => {
  it('sends what a Pi sends: PXEClient vendor class, arch 0, broadcast flag, a locally administered MAC', () => {
    const m = decodeDhcp(discoverPacket(0x1234abcd));
    const info = clientInfo(m);
    expect(info.vendorClass).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(info.archs).toEqual([0]);
    expect(m.flags & 0x8000).toBe(0x8000);
    expect(info.mac).toBe('02:70:63:64:6f:63');
  });

  const offer = (o: Partial<DhcpMessage>, options: DhcpMessage['options']): Buffer => {
    const req = decodeDhcp(discoverPacket(7));
    return encodeDhcp({ ...req, op: 2, ...o, options: [typeOption('OFFER'), ...options] });
  };

  it.each([
    [
      'a router (address, no PXE)',
      offer({ yiaddr: '192.168.1.50' }, [ipOption(Opt.ServerId, '192.168.1.1')]),
      { server: '192.168.1.1', yiaddr: '192.168.1.50', pxe: false },
    ],
    [
      'a PXE proxy (dnsmasq pxe-service)',
      offer({}, [ipOption(Opt.ServerId, '192.168.1.9'), opt(Opt.VendorClass, 'PXEClient'), opt(Opt.VendorSpecific, Buffer.from([6, 1, 3, 255]))]),
      { server: '192.168.1.9', yiaddr: '0.0.0.0', pxe: true },
    ],
    [
      'dnsmasq leasing only (siaddr = itself, no boot file)',
      offer({ yiaddr: '192.168.1.61', siaddr: '192.168.1.1' }, [ipOption(Opt.ServerId, '192.168.1.1')]),
      { server: '192.168.1.1', pxe: false },
    ],
    [
      'a router with next-server and a boot file',
      offer({ yiaddr: '192.168.1.60', siaddr: '192.168.1.5' }, [ipOption(Opt.ServerId, '192.168.1.1'), opt(Opt.BootfileName, 'pxelinux.0')]),
      { server: '192.168.1.1', pxe: true, bootFile: 'pxelinux.0' },
    ],
  ])('classifies %s', (_, buf, want) => {
    expect(classifyOffer(buf, 7, '192.168.1.254')).toMatchObject(want);
  });

  it('ignores other xids, requests and garbage', () => {
    const buf = offer({ yiaddr: '192.168.1.50' }, [ipOption(Opt.ServerId, '192.168.1.1')]);
    expect(classifyOffer(buf, 8, 'x')).toBeUndefined();
    expect(classifyOffer(discoverPacket(7), 7, 'x')).toBeUndefined();
    expect(classifyOffer(Buffer.from('nope'), 7, 'x')).toBeUndefined();
    expect(getOption(decodeDhcp(buf), Opt.ServerId)).toBeDefined();
  });
});

describe('picluster doctor --nodes', () => {
  it.each([
    [{ name: 'a', state: 'online', connected: true, lastSeenAt: NOW - 1000 }, 'pass'],
    [{ name: 'b', state: 'lost', connected: false, lastSeenAt: NOW - 600_000 }, 'fail'],
    [{ name: 'c', state: 'maintenance', connected: false }, 'warn'],
    [{ name: 'd', state: 'online', connected: true, lastSeenAt: NOW - 30_000 }, 'warn'],
    [{ name: 'e', state: 'busy', connected: true, lastSeenAt: NOW - 500, health: { throttled: 0b101, temperatureC: 81 } }, 'warn'],
  ])('%o → %s', (n, status) => {
    expect(checkNodes([n], NOW, 2000)[0]!.status).toBe(status);
  });
  it('names throttling bits', () => {
    expect(throttledNow(0b101)).toEqual(['under-voltage', 'throttled']);
    expect(checkNodes([], NOW, 2000)[0]!.status).toBe('warn');
  });
});
