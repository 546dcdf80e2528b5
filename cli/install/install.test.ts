/**
 * `picluster install` into a temporary root (the real CLI, systemd-sysusers and `systemctl --root`
 * when present), the generated units checked by `systemd-analyze verify`, and uninstall.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.ts';
import { defaultRouteInterface, fill, installPlan, uninstallPlan } from './plan.ts';

const BIN = fileURLToPath(new URL('../../bin/picluster.js', import.meta.url));
const run = promisify(execFile);
const has = (tool: string) => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((d) => existsSync(`${d}/${tool}`));
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});
const tempRoot = () => {
  const r = mkdtempSync(join(tmpdir(), 'picluster-install-'));
  roots.push(r);
  return r;
};
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe('install plan (pure)', () => {
  it('finds the default route interface in /proc/net/route', () => {
    const route =
      'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n' +
      'enp3s0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n' +
      'enp3s0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\n';
    expect(defaultRouteInterface(route)).toBe('enp3s0');
    expect(defaultRouteInterface('Iface\tDestination\n')).toBeUndefined();
  });

  it('fills every placeholder or says which one is missing', () => {
    expect(fill('a @X@ b', { X: '1' })).toBe('a 1 b');
    expect(() => fill('@NOPE@', {})).toThrow(/@NOPE@/);
  });

  it('netboot-only installs the netboot unit; uninstall removes both units and, with purge, config and data', () => {
    const o = {
      appDir: '/opt/p',
      node: '/usr/bin/node',
      user: 'pc',
      dataDir: '/var/lib/pc',
      configDir: '/etc/pc',
      interface: 'eth1',
      netbootOnly: true,
      unitDir: '/u',
      sysusersDir: '/s',
    };
    const plan = installPlan(o, { master: 'M @USER@', netboot: 'N @USER@ @CONFIG@', config: 'C @INTERFACE@' });
    expect(plan.unit).toBe('picluster-netboot.service');
    expect(plan.files.map((f) => [f.path, f.content])).toEqual([
      ['/s/picluster.conf', expect.stringContaining('u pc - "picluster" /var/lib/pc /usr/sbin/nologin')],
      ['/u/picluster-netboot.service', 'N pc /etc/pc/picluster.yaml'],
      ['/etc/pc/picluster.yaml', 'C eth1'],
    ]);
    expect(plan.dirs[0]).toEqual({ path: '/var/lib/pc', mode: 0o700, owner: 'pc' });
    expect(uninstallPlan(o, false).remove).toEqual(['/u/picluster-master.service', '/u/picluster-netboot.service', '/s/picluster.conf']);
    expect(uninstallPlan(o, true).remove).toContain('/var/lib/pc');
  });
});

describe('picluster install --root DIR', () => {
  it(
    'writes the user, a 0700 data dir, a valid commented config with the interface, an enabled unit; re-install keeps the config; uninstall removes the unit',
    { timeout: 60_000 },
    async () => {
      const root = tempRoot();
      await run(process.execPath, [BIN, 'install', '--root', root, '--interface', 'enp3s0']);
      const unit = join(root, 'etc/systemd/system/picluster-master.service');
      const text = readFileSync(unit, 'utf8');
      expect(text).toContain(`ExecStart=${process.execPath} ${fileURLToPath(new URL('../../', import.meta.url))}bin/picluster.js master`);
      expect(text).toMatch(/^User=picluster$/m);
      expect(text).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
      expect(text).toMatch(/^Environment=PICLUSTER_CONFIG=\/etc\/picluster\/picluster\.yaml$/m);
      expect(mode(join(root, 'var/lib/picluster'))).toBe('700');
      expect(mode(join(root, 'etc/picluster/picluster.yaml'))).toBe('640');
      const configPath = join(root, 'etc/picluster/picluster.yaml');
      const config = loadConfig({ file: configPath, required: true });
      expect(config.netboot).toMatchObject({ interface: 'enp3s0', mode: 'proxy', enabled: false });
      expect(config.dataDir).toBe('/var/lib/picluster');
      expect(readFileSync(configPath, 'utf8')).toMatch(/^# /m);
      if (has('systemctl')) {
        const link = join(root, 'etc/systemd/system/multi-user.target.wants/picluster-master.service');
        expect(lstatSync(link).isSymbolicLink()).toBe(true);
        expect(readlinkSync(link)).toBe('/etc/systemd/system/picluster-master.service');
      }
      if (has('systemd-sysusers'))
        expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toMatch(/^picluster:x:\d+:\d+:picluster:\/var\/lib\/picluster:\/usr\/sbin\/nologin$/m);

      writeFileSync(configPath, 'netboot: { interface: mine }\n');
      const again = await run(process.execPath, [BIN, 'install', '--root', root]);
      expect(again.stdout).toContain('kept /etc/picluster/picluster.yaml (exists)');
      expect(readFileSync(configPath, 'utf8')).toBe('netboot: { interface: mine }\n');

      await run(process.execPath, [BIN, 'uninstall', '--root', root]);
      expect(existsSync(unit)).toBe(false);
      expect(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants/picluster-master.service'))).toBe(false);
      expect(existsSync(configPath)).toBe(true);
      await run(process.execPath, [BIN, 'uninstall', '--root', root, '--purge']);
      expect(existsSync(configPath)).toBe(false);
      expect(existsSync(join(root, 'var/lib/picluster'))).toBe(false);
    },
  );

  it.skipIf(!has('systemd-analyze'))(
    '(skipped without systemd-analyze: Debian package systemd) the generated units pass systemd-analyze verify (and a broken one does not)',
    { timeout: 60_000 },
    async () => {
      const root = tempRoot();
      await run(process.execPath, [BIN, 'install', '--root', root, '--interface', 'eth0']);
      await run(process.execPath, [BIN, 'install', '--root', root, '--netboot-only']);
      for (const u of ['picluster-master.service', 'picluster-netboot.service']) {
        const path = join(root, 'etc/systemd/system', u);
        expect(() => execFileSync('systemd-analyze', ['verify', path], { stdio: 'pipe' })).not.toThrow();
      }
      const broken = join(root, 'etc/systemd/system/picluster-broken.service');
      writeFileSync(
        broken,
        readFileSync(join(root, 'etc/systemd/system/picluster-master.service'), 'utf8').replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/node'),
      );
      expect(() => execFileSync('systemd-analyze', ['verify', broken], { stdio: 'pipe' })).toThrow(/not executable/);
    },
  );
});
