/**
 * `picluster <command>`: a table of subcommands, each in its own module under
 * `cli/commands/`, loaded lazily so `picluster agent` does not load fastify.
 */
import { isPiclusterError } from '../common/errors.ts';

export interface CommandModule {
  /** Runs the command; resolves to the process exit code (or undefined to keep serving). */
  run(argv: string[]): Promise<number | undefined>;
}

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  master: { summary: 'run the master (dispatcher, API, UI, netboot when enabled)', load: () => import('./commands/master.ts') },
  agent: { summary: 'run a node agent', load: () => import('./commands/agent.ts') },
  netboot: { summary: 'run the netboot servers (proxyDHCP/DHCP + TFTP) standalone', load: () => import('./commands/netboot.ts') },
  'build-image': { summary: 'build the RAM-only netboot image into image/dist', load: () => import('./commands/build-image.ts') },
  nodes: { summary: 'list nodes', load: () => import('./commands/client-commands.ts').then((m) => m.nodesCommand) },
  node: { summary: 'show one node: picluster node <name>', load: () => import('./commands/client-commands.ts').then((m) => m.nodeCommand) },
  submit: {
    summary: 'submit a job: picluster submit [--group g] [--priority n] [--detach] -- cmd args...',
    load: () => import('./commands/client-commands.ts').then((m) => m.submitCommand),
  },
  jobs: { summary: 'list jobs', load: () => import('./commands/client-commands.ts').then((m) => m.jobsCommand) },
  job: { summary: 'show one job: picluster job <id>', load: () => import('./commands/client-commands.ts').then((m) => m.jobCommand) },
  cancel: { summary: 'cancel a job: picluster cancel <id>', load: () => import('./commands/client-commands.ts').then((m) => m.cancelCommand) },
  reboot: {
    summary: 'reboot a node through its agent: picluster reboot <node> [--kill]',
    load: () => import('./commands/lifecycle-commands.ts').then((m) => m.rebootCommand),
  },
  power: {
    summary: 'power a node on/off/cycle through its driver: picluster power cycle <node>',
    load: () => import('./commands/lifecycle-commands.ts').then((m) => m.powerCommand),
  },
  drain: {
    summary: 'take no new jobs: picluster drain <node> [--immediate]',
    load: () => import('./commands/lifecycle-commands.ts').then((m) => m.drainCommand),
  },
  undrain: { summary: 'take jobs again: picluster undrain <node>', load: () => import('./commands/lifecycle-commands.ts').then((m) => m.undrainCommand) },
  maintenance: {
    summary: 'no jobs, no automatic recovery: picluster maintenance on|off <node>',
    load: () => import('./commands/lifecycle-commands.ts').then((m) => m.maintenanceCommand),
  },
  identify: { summary: "blink a node's LED: picluster identify <node>", load: () => import('./commands/lifecycle-commands.ts').then((m) => m.identifyCommand) },
  approve: {
    summary: 'approve a node netboot saw: picluster approve <pending> --name <node>',
    load: () => import('./commands/lifecycle-commands.ts').then((m) => m.approveCommand),
  },
  remove: {
    summary: 'remove (or reject) a node: picluster remove <node>',
    load: () => import('./commands/lifecycle-commands.ts').then((m) => m.removeCommand),
  },
  doctor: {
    summary: 'check what breaks netboot; picluster doctor <node>: why a node does not boot',
    load: () => import('./commands/doctor.ts').then((m) => m.doctorCommand),
  },
  install: {
    summary: 'install the master as a systemd service (root; --root DIR for a directory)',
    load: () => import('./commands/install.ts').then((m) => m.installCommand),
  },
  uninstall: {
    summary: 'remove the systemd units (--purge: also config and data)',
    load: () => import('./commands/install.ts').then((m) => m.uninstallCommand),
  },
  alerts: { summary: 'open alerts (--all for history)', load: () => import('./commands/lifecycle-commands.ts').then((m) => m.alertsCommand) },
  simulate: {
    summary: 'virtual agents against a running master: picluster simulate --nodes N',
    load: () => import('./commands/simulate.ts'),
  },
  backup: {
    summary: 'consistent copy of the database and secrets, master running or not: picluster backup <file>',
    load: () => import('./commands/data-commands.ts').then((m) => m.backupCommand),
  },
  restore: {
    summary: 'put a backup in place (master stopped): picluster restore <file>',
    load: () => import('./commands/data-commands.ts').then((m) => m.restoreCommand),
  },
  prune: {
    summary: 'delete finished jobs older than store.jobHistoryDays now: picluster prune [--older-than-days N]',
    load: () => import('./commands/data-commands.ts').then((m) => m.pruneCommand),
  },
  tls: {
    summary: 'a self-signed CA and server certificate for https: picluster tls init [--name host --ip addr]',
    load: () => import('./commands/tls.ts'),
  },
  rollout: {
    summary: 'rolling image upgrade: picluster rollout [--batch n]',
    load: () => import('./commands/lifecycle-commands.ts').then((m) => m.rolloutCommand),
  },
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    'usage: picluster <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    "Run `picluster <command> --help` for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number | undefined> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`picluster: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  try {
    const mod = await entry.load();
    return await mod.run(rest);
  } catch (e) {
    if (isPiclusterError(e)) {
      process.stderr.write(`picluster ${name}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
