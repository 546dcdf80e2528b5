/**
 * Carries out an install/uninstall plan. With `root` (tests, image builds) every path is written
 * under that directory and only the commands that can work offline run (`systemctl --root=DIR
 * enable`); without it, the plan runs on this machine as root.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { InstallPlan, UninstallPlan } from './plan.ts';

export interface ApplyOptions {
  readonly root?: string;
  /** Start the unit after enabling it (live installs only). */
  readonly start?: boolean;
  readonly say: (line: string) => void;
  /** Runs a command; default execFileSync with inherited stderr. */
  readonly run?: (argv: readonly string[]) => void;
}

const at = (root: string | undefined, path: string): string => (root ? join(root, path) : path);

function defaultRun(argv: readonly string[]): void {
  execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], timeout: 60_000 });
}

function hasTool(tool: string): boolean {
  return ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((d) => existsSync(`${d}/${tool}`));
}

export function applyInstall(plan: InstallPlan, o: ApplyOptions): void {
  const run = o.run ?? defaultRun;
  for (const d of plan.dirs) {
    const p = at(o.root, d.path);
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    if (!existsSync(p)) mkdirSync(p, { mode: d.mode });
    chmodSync(p, d.mode);
  }
  for (const f of plan.files) {
    const p = at(o.root, f.path);
    if (f.keepExisting && existsSync(p)) {
      o.say(`kept ${f.path} (exists)`);
      continue;
    }
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content, { mode: f.mode });
    chmodSync(p, f.mode);
    o.say(`wrote ${f.path}`);
  }
  if (o.root) {
    // Offline: the user is made by systemd-sysusers at first boot; enabling is a symlink.
    // systemd-sysusers --root reads the file argument as given, so it is the path under the root.
    if (hasTool('systemd-sysusers')) run(['systemd-sysusers', `--root=${o.root}`, at(o.root, plan.files[0]!.path)]);
    if (hasTool('systemctl')) run(['systemctl', `--root=${o.root}`, 'enable', plan.unit]);
    o.say(`enabled ${plan.unit} under ${o.root}`);
    return;
  }
  for (const c of plan.commands) run(c);
  if (o.start) run(['systemctl', 'restart', plan.unit]);
  o.say(`enabled ${plan.unit}${o.start ? ' and started it' : ''}: journalctl -u ${plan.unit} -f`);
}

export function applyUninstall(plan: UninstallPlan, o: ApplyOptions): void {
  const run = o.run ?? defaultRun;
  if (o.root) {
    if (hasTool('systemctl'))
      for (const u of plan.units) if (existsSync(at(o.root, `/etc/systemd/system/${u}`))) run(['systemctl', `--root=${o.root}`, 'disable', u]);
  } else {
    for (const c of plan.commands.slice(0, 1)) {
      try {
        run(c);
      } catch {
        // a unit that was never installed
      }
    }
  }
  for (const p of plan.remove) {
    const full = at(o.root, p);
    if (!existsSync(full)) continue;
    rmSync(full, { recursive: true, force: true });
    o.say(`removed ${p}`);
  }
  if (!o.root) for (const c of plan.commands.slice(1)) run(c);
}

/** Reads a template next to this checkout (deploy/systemd/). */
export function readTemplate(appDir: string, name: string): string {
  return readFileSync(join(appDir, 'deploy', 'systemd', name), 'utf8');
}
