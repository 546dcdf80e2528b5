/**
 * `picluster doctor`: what breaks netboot in practice, as a pass/warn/fail table with a fix
 * for each (exit 1 when something fails). `picluster doctor <node>`: the boot doctor for one
 * node (its latest boot attempt against the catalogue in doctor/boot). `--nodes`: agents
 * connected, heartbeat ages, throttling (the seed's healthcheck).
 */
import type { BootDiagnosis } from '../../doctor/boot/schema.ts';
import { catalogueEntries } from '../../doctor/boot/diagnose.ts';
import { parseFlags } from '../args.ts';
import { cluster, common, wrap } from './client-commands.ts';
import { formatDiagnosis } from './doctor-format.ts';

export const USAGE = `usage: picluster doctor [NODE] [--nodes] [--list] [--json] [--url URL] [--token T]

  picluster doctor node7.lan   why node7.lan does (not) boot: its latest boot attempt matched
                               against known netboot failures, each with a fix
  picluster doctor --list      the catalogue of known boot failures
Exit code: 0 when nothing fails, 1 when something does.`;

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');

export const doctorCommand = wrap(USAGE, async (argv) => {
  const { values, positionals } = parseFlags(argv, { ...common, list: { type: 'boolean' }, nodes: { type: 'boolean' } }, true);
  if (values.list) {
    for (const e of catalogueEntries()) out(`${e.id.padEnd(24)} ${e.severity.padEnd(4)} ${e.ref.padEnd(10)} ${e.title}`);
    return 0;
  }
  const [node] = positionals;
  if (node) {
    const d = (await cluster(values).request('GET', `/api/nodes/${encodeURIComponent(node)}/boot-doctor`)) as BootDiagnosis;
    out(values.json ? JSON.stringify(d, null, 2) : formatDiagnosis(d, Date.now()));
    return d.findings.some((f) => f.severity === 'fail') ? 1 : 0;
  }
  process.stderr.write('picluster doctor: give a node name (the network checks come with `picluster doctor` alone)\n');
  return 2;
});
