/**
 * `picluster doctor` against a real segment: two namespaces this test creates joined by a veth,
 * Debian's dnsmasq in one (the "router"), the doctor in the other with its boot interface on the
 * link. With dnsmasq offering a boot file the doctor must name it as a competing PXE server and
 * exit 1; with dnsmasq only leasing addresses, it passes the DHCP checks (the router proxy mode needs).
 */
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN } from './helpers/cluster-processes.ts';
import { inNs, Lab, netnsUnavailable, which, type Proc } from './netboot-dhcp-netns.ts';

const skipReason = netnsUnavailable() ?? (which('dnsmasq') ? undefined : 'dnsmasq is not installed (Debian package dnsmasq)');
const ROUTER = '10.213.7.1';
const MASTER = '10.213.7.2';

interface Row {
  name: string;
  status: string;
  detail: string;
}

describe.skipIf(skipReason !== undefined)(`picluster doctor in a netns with a competing dnsmasq${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  const lab = new Lab();
  let routerNs: string;
  let masterNs: string;
  let routerIf: string;
  let config: string;

  beforeAll(async () => {
    routerNs = lab.addNs('pcdr');
    masterNs = lab.addNs('pcdm');
    const link = lab.link({ ns: routerNs, addr: `${ROUTER}/24` }, { ns: masterNs, addr: `${MASTER}/24` });
    routerIf = link.a;
    // a veth reports operstate up only once both ends are up and the carrier settled
    await vi.waitFor(() => expect(inNs(masterNs, 'cat', `/sys/class/net/${link.b}/operstate`).trim()).toBe('up'), { timeout: 10_000, interval: 50 });
    const tftpRoot = lab.tmp('pi');
    mkdirSync(tftpRoot);
    config = lab.tmp('picluster.yaml');
    writeFileSync(
      config,
      [
        `netboot: { enabled: true, interface: ${link.b}, mode: proxy, clients: any, tftpRoot: ${tftpRoot}, httpRoot: ${lab.tmp('dist')} }`,
        `inventory: { path: ${lab.tmp('nodes.yaml')} }`,
        `http: { port: 18080 }`,
        '',
      ].join('\n'),
    );
  }, 30_000);
  afterAll(() => lab.destroy(), 30_000);

  function dnsmasq(extra: string[]): Proc {
    return lab.spawn(routerNs, 'dnsmasq', [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      `--interface=${routerIf}`,
      '--bind-interfaces',
      '--dhcp-range=10.213.7.100,10.213.7.150,12h',
      '--no-ping', // offer at once: the doctor's default 4 s window covers a ping check, this test's 1.5 s does not
      ...extra,
      '--log-dhcp',
      '--log-facility=-',
      `--pid-file=${lab.tmp(`dnsmasq-${extra.length}.pid`)}`,
      `--dhcp-leasefile=${lab.tmp(`dnsmasq-${extra.length}.leases`)}`,
      '--user=root',
    ]);
  }

  async function doctor(): Promise<{ code: number | null; rows: Row[]; stderr: string }> {
    const p = lab.spawn(masterNs, process.execPath, [BIN, 'doctor', '--config', config, '--json', '--no-power', '--dhcp-listen-ms', '1500']);
    if (p.exitCode === undefined) await once(p.child, 'exit', { signal: AbortSignal.timeout(30_000) });
    const text = p.lines.join('\n');
    return { code: p.exitCode ?? null, rows: JSON.parse(text) as Row[], stderr: p.stderr };
  }
  const rowOf = (rows: Row[], name: string) => rows.find((r) => r.name === name);

  it('names a dnsmasq that offers a boot file as a competing PXE server and exits 1', { timeout: 60_000 }, async () => {
    const d = dnsmasq(['--dhcp-boot=pxelinux.0']);
    await d.waitText(/DHCP, IP range 10\.213\.7\.100/, 20_000);
    const r = await doctor();
    await d.stop();
    expect(rowOf(r.rows, 'interface')).toMatchObject({ status: 'pass', detail: expect.stringContaining(MASTER) });
    expect(rowOf(r.rows, 'dhcp pxe rivals')).toMatchObject({ status: 'fail' });
    expect(rowOf(r.rows, 'dhcp pxe rivals')!.detail).toMatch(
      new RegExp(`${ROUTER.replace(/\./g, '\\.')} \\(offers 10\\.213\\.7\\.1\\d\\d\\) PXE pxelinux\\.0`),
    );
    expect(rowOf(r.rows, 'dhcp udp/67')).toMatchObject({ status: 'pass' });
    expect(r.code).toBe(1);
  });

  it('passes the DHCP checks beside a dnsmasq that only leases addresses', { timeout: 60_000 }, async () => {
    const d = dnsmasq([]);
    await d.waitText(/DHCP, IP range 10\.213\.7\.100/, 20_000);
    const r = await doctor();
    await d.stop();
    expect(rowOf(r.rows, 'dhcp pxe rivals')).toMatchObject({ status: 'pass' });
    expect(rowOf(r.rows, 'dhcp addresses')).toMatchObject({ status: 'pass', detail: expect.stringContaining(ROUTER) });
  });

  it('with no DHCP server on the segment, proxy mode fails: the nodes would get no address', { timeout: 60_000 }, async () => {
    const r = await doctor();
    expect(rowOf(r.rows, 'dhcp addresses')).toMatchObject({ status: 'fail' });
    expect(r.code).toBe(1);
  });
});
