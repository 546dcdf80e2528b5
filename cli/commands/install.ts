/**
 * `picluster install` / `picluster uninstall`: the master as a systemd service under its own
 * system user, with CAP_NET_BIND_SERVICE for ports 67/69 instead of root. `--root DIR` writes
 * everything under DIR and only runs what works offline (tests, image builds).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyInstall, applyUninstall, readTemplate } from '../install/apply.ts';
import { DEFAULTS, defaultRouteInterface, installPlan, uninstallPlan } from '../install/plan.ts';
import { parseFlags } from '../args.ts';

const APP_DIR = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

export const INSTALL_USAGE = `usage: picluster install [--interface IF] [--netboot-only] [--no-start] [--root DIR]
                         [--user NAME] [--data-dir DIR] [--config-dir DIR] [--node PATH]

Run as root. Creates the system user '${DEFAULTS.user}' (systemd-sysusers), the data dir ${DEFAULTS.dataDir}
(0700), ${DEFAULTS.configDir}/picluster.yaml from a commented template with the boot interface
(default: the interface of the default route; an existing config is kept), and
picluster-master.service (or picluster-netboot.service with --netboot-only), with
CAP_NET_BIND_SERVICE for ports 67/69; then enables and starts it. Logs: journalctl -u picluster-master.
--root DIR writes it all under DIR and enables the unit offline (systemctl --root).
`;

export const UNINSTALL_USAGE = `usage: picluster uninstall [--purge] [--root DIR]

Run as root. Stops and disables the picluster units and removes them and the sysusers entry.
The config and the data dir (database, tokens, cluster secret) stay unless --purge.
`;

const say = (line: string) => process.stdout.write(`${line}\n`);

function notRoot(root: string | undefined, what: string): boolean {
  if (root || process.getuid?.() === 0) return false;
  process.stderr.write(`picluster ${what}: run as root (sudo), or give --root DIR to write into a directory\n`);
  return true;
}

export const installCommand = {
  async run(argv: string[]): Promise<number> {
    const { values } = parseFlags(argv, {
      interface: { type: 'string' },
      'netboot-only': { type: 'boolean' },
      'no-start': { type: 'boolean' },
      root: { type: 'string' },
      user: { type: 'string' },
      'data-dir': { type: 'string' },
      'config-dir': { type: 'string' },
      node: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) return (process.stdout.write(INSTALL_USAGE), 0);
    if (notRoot(values.root, 'install')) return 1;
    const root = values.root ? resolve(values.root) : undefined;
    const route = existsSync('/proc/net/route') ? readFileSync('/proc/net/route', 'utf8') : '';
    const plan = installPlan(
      {
        appDir: APP_DIR,
        node: values.node ?? process.execPath,
        user: values.user ?? DEFAULTS.user,
        dataDir: values['data-dir'] ?? DEFAULTS.dataDir,
        configDir: values['config-dir'] ?? DEFAULTS.configDir,
        interface: values.interface ?? defaultRouteInterface(route) ?? 'eth0',
        netbootOnly: values['netboot-only'] === true,
        unitDir: DEFAULTS.unitDir,
        sysusersDir: DEFAULTS.sysusersDir,
      },
      {
        master: readTemplate(APP_DIR, 'picluster-master.service.in'),
        netboot: readTemplate(APP_DIR, 'picluster-netboot.service.in'),
        config: readTemplate(APP_DIR, 'picluster.yaml.in'),
      },
    );
    applyInstall(plan, { ...(root ? { root } : {}), start: !values['no-start'], say });
    if (!root) say(`next: edit ${values['config-dir'] ?? DEFAULTS.configDir}/picluster.yaml, then \`picluster doctor\``);
    return 0;
  },
};

export const uninstallCommand = {
  async run(argv: string[]): Promise<number> {
    const { values } = parseFlags(argv, { purge: { type: 'boolean' }, root: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) return (process.stdout.write(UNINSTALL_USAGE), 0);
    if (notRoot(values.root, 'uninstall')) return 1;
    const root = values.root ? resolve(values.root) : undefined;
    applyUninstall(
      uninstallPlan(
        { user: DEFAULTS.user, dataDir: DEFAULTS.dataDir, configDir: DEFAULTS.configDir, unitDir: DEFAULTS.unitDir, sysusersDir: DEFAULTS.sysusersDir },
        values.purge === true,
      ),
      {
        ...(root ? { root } : {}),
        say,
      },
    );
    return 0;
  },
};
