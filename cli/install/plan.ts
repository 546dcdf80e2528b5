/**
 * `picluster install` as data: which files to write (with mode and content), which directories to
 * make, which commands to run. Pure: the templates' text, the options and the detected boot
 * interface in; a plan out. cli/install/apply.ts carries it out (into `--root` for tests).
 */

export interface InstallOptions {
  /** The checkout picluster runs from (bin/picluster.js under it). */
  readonly appDir: string;
  /** Absolute path of the node binary the units start. */
  readonly node: string;
  readonly user: string;
  readonly dataDir: string;
  readonly configDir: string;
  /** Boot interface written into the config (detected from the default route when not given). */
  readonly interface: string;
  /** `picluster-netboot.service` instead of the master. */
  readonly netbootOnly: boolean;
  readonly unitDir: string;
  readonly sysusersDir: string;
}

export interface Templates {
  readonly master: string;
  readonly netboot: string;
  readonly config: string;
}

export interface PlannedFile {
  readonly path: string;
  readonly mode: number;
  readonly content: string;
  /** Kept when it already exists (the operator's config). */
  readonly keepExisting?: boolean;
}

export interface InstallPlan {
  readonly unit: string;
  readonly dirs: readonly { readonly path: string; readonly mode: number; readonly owner?: string }[];
  readonly files: readonly PlannedFile[];
  /** Commands for a live system; with `--root` only those that take `--root` run. */
  readonly commands: readonly (readonly string[])[];
}

export const DEFAULTS = {
  user: 'picluster',
  dataDir: '/var/lib/picluster',
  configDir: '/etc/picluster',
  unitDir: '/etc/systemd/system',
  sysusersDir: '/etc/sysusers.d',
} as const;

export function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/@([A-Z_]+)@/g, (m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`template placeholder ${m} has no value`);
    return v;
  });
}

/** The interface of the default route in /proc/net/route text, if any. */
export function defaultRouteInterface(procNetRoute: string): string | undefined {
  for (const line of procNetRoute.split('\n').slice(1)) {
    const [iface, dest, , flags] = line.trim().split(/\s+/);
    if (iface && dest === '00000000' && (parseInt(flags ?? '0', 16) & 1) === 1) return iface;
  }
  return undefined;
}

export function unitName(netbootOnly: boolean): string {
  return netbootOnly ? 'picluster-netboot.service' : 'picluster-master.service';
}

export function installPlan(o: InstallOptions, t: Templates): InstallPlan {
  const config = `${o.configDir}/picluster.yaml`;
  const values = {
    APP_DIR: o.appDir,
    NODE: o.node,
    USER: o.user,
    DATA_DIR: o.dataDir,
    CONFIG: config,
    INVENTORY: `${o.configDir}/nodes.yaml`,
    INTERFACE: o.interface,
  };
  const unit = unitName(o.netbootOnly);
  return {
    unit,
    dirs: [
      { path: o.dataDir, mode: 0o700, owner: o.user },
      { path: o.configDir, mode: 0o750 },
      { path: o.unitDir, mode: 0o755 },
      { path: o.sysusersDir, mode: 0o755 },
    ],
    files: [
      {
        path: `${o.sysusersDir}/picluster.conf`,
        mode: 0o644,
        content: `# picluster install: the system user the units run as\nu ${o.user} - "picluster" ${o.dataDir} /usr/sbin/nologin\n`,
      },
      { path: `${o.unitDir}/${unit}`, mode: 0o644, content: fill(o.netbootOnly ? t.netboot : t.master, values) },
      { path: config, mode: 0o640, content: fill(t.config, values), keepExisting: true },
    ],
    commands: [
      ['systemd-sysusers', `${o.sysusersDir}/picluster.conf`],
      ['chown', `${o.user}:${o.user}`, o.dataDir],
      ['chgrp', o.user, o.configDir, config],
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', unit],
    ],
  };
}

export interface UninstallPlan {
  readonly units: readonly string[];
  readonly remove: readonly string[];
  readonly commands: readonly (readonly string[])[];
}

/** Removes the units and the sysusers entry; with `purge` also the config and the data dir. */
export function uninstallPlan(o: Pick<InstallOptions, 'user' | 'dataDir' | 'configDir' | 'unitDir' | 'sysusersDir'>, purge: boolean): UninstallPlan {
  const units = [unitName(false), unitName(true)];
  return {
    units,
    remove: [...units.map((u) => `${o.unitDir}/${u}`), `${o.sysusersDir}/picluster.conf`, ...(purge ? [o.configDir, o.dataDir] : [])],
    commands: [['systemctl', 'disable', '--now', ...units], ['systemctl', 'daemon-reload'], ...(purge ? [['userdel', o.user]] : [])],
  };
}
