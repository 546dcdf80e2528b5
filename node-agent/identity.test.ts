import { readFileSync } from 'node:fs';
import type { NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectIdentity, parseCpuInfo, parseDefaultRouteInterface, pickInterface, type OsLike } from './identity.ts';
import { fixtureFiles } from './sources.ts';

const fx = (dir: string, name: string) => readFileSync(join(import.meta.dirname, 'fixtures', dir, name), 'utf8');

const addr = (address: string, mac: string, family: 'IPv4' | 'IPv6' = 'IPv4', internal = false): NetworkInterfaceInfo =>
  ({ address, mac, family, internal, netmask: '255.255.255.0', cidr: `${address}/24` }) as NetworkInterfaceInfo;

const piOs: OsLike = {
  networkInterfaces: () => ({
    lo: [addr('127.0.0.1', '00:00:00:00:00:00', 'IPv4', true)],
    eth0: [addr('fe80::1', 'B8:27:EB:10:00:06', 'IPv6'), addr('192.168.1.56', 'B8:27:EB:10:00:06')],
    wlan0: [addr('192.168.1.99', 'b8:27:eb:99:99:99')],
  }),
  hostname: () => 'node6',
  availableParallelism: () => 4,
  totalmem: () => 949_448 * 1024,
};

describe('identity parsers', () => {
  it('finds the default route interface with the lowest metric', () => {
    expect(parseDefaultRouteInterface(fx('pi3bplus', 'route'))).toBe('eth0');
    expect(parseDefaultRouteInterface(fx('x86', 'route'))).toBeUndefined();
    expect(parseDefaultRouteInterface('')).toBeUndefined();
  });

  it('reads serial (normalised to 8 lowercase hex), model and revision from a Pi cpuinfo', () => {
    expect(parseCpuInfo(fx('pi3bplus', 'cpuinfo'))).toEqual({ serial: 'f0e1d2c3', model: 'Raspberry Pi 3 Model B Plus Rev 1.3', revision: 'a020d3' });
  });

  it('finds nothing Pi-specific in a PC cpuinfo, and treats an all-zero serial as absent', () => {
    expect(parseCpuInfo(fx('x86', 'cpuinfo'))).toEqual({});
    expect(parseCpuInfo('Serial\t\t: 0000000000000000\n')).toEqual({});
  });

  it('picks MAC and IPv4 of the preferred interface, else the first real one', () => {
    expect(pickInterface(piOs.networkInterfaces(), 'eth0')).toEqual({ mac: 'b8:27:eb:10:00:06', ip: '192.168.1.56' });
    expect(pickInterface(piOs.networkInterfaces(), undefined)).toEqual({ mac: 'b8:27:eb:10:00:06', ip: '192.168.1.56' });
    expect(pickInterface(piOs.networkInterfaces(), 'wlan0')).toEqual({ mac: 'b8:27:eb:99:99:99', ip: '192.168.1.99' });
    expect(pickInterface({ lo: [addr('127.0.0.1', '00:00:00:00:00:00', 'IPv4', true)] }, undefined)).toEqual({});
  });
});

describe('collectIdentity', () => {
  it('describes a Pi 3B+ from its /proc and device-tree files', async () => {
    const files = fixtureFiles({
      '/proc/net/route': fx('pi3bplus', 'route'),
      '/proc/cpuinfo': fx('pi3bplus', 'cpuinfo'),
      '/proc/device-tree/model': fx('pi3bplus', 'device-tree-model'),
      '/sys/firmware/devicetree/base/serial-number': fx('pi3bplus', 'serial-number'),
      '/proc/sys/kernel/random/boot_id': fx('pi3bplus', 'boot_id'),
    });
    const id = await collectIdentity({ name: 'node6.lan', imageVersion: '2024.11-1', files, os: piOs, arch: 'arm', platform: 'linux', agentVersion: '9.9.9' });
    expect(id).toEqual({
      name: 'node6.lan',
      mac: 'b8:27:eb:10:00:06',
      serial: 'f0e1d2c3',
      model: 'Raspberry Pi 3 Model B Plus Rev 1.3',
      hostname: 'node6',
      ip: '192.168.1.56',
      cpus: 4,
      memoryMb: 927,
      arch: 'arm',
      platform: 'linux',
      agentVersion: '9.9.9',
      imageVersion: '2024.11-1',
      bootId: '7f5a6c1e-3b2d-4c8a-9e1f-0a1b2c3d4e5f',
    });
  });

  it('uses the device-tree serial when cpuinfo has none (arm64 kernels)', async () => {
    const files = fixtureFiles({ '/sys/firmware/devicetree/base/serial-number': fx('pi3bplus', 'serial-number') });
    expect((await collectIdentity({ name: 'n', files, os: piOs })).serial).toBe('f0e1d2c3');
  });

  it('works on a machine without any of those files: random boot id per process, package version', async () => {
    const a = await collectIdentity({ name: 'laptop', files: fixtureFiles({}), os: piOs });
    const b = await collectIdentity({ name: 'laptop', files: fixtureFiles({}), os: piOs });
    expect(a.serial).toBeUndefined();
    expect(a.model).toBeUndefined();
    expect(a.imageVersion).toBeUndefined();
    expect(a.bootId).toMatch(/^process-[0-9a-f-]{36}$/);
    expect(b.bootId).toBe(a.bootId);
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(a.agentVersion).toBe(pkg.version);
    expect(a.arch).toBe(process.arch);
  });
});
