/**
 * `picluster doctor`: what breaks netboot in practice, as a pass/warn/fail table with a fix
 * for each (exit 1 when something fails). `picluster doctor <node>`: the boot doctor for one
 * node (its latest boot attempt against the catalogue in doctor/boot). `--nodes`: agents
 * connected, heartbeat ages, throttling (the seed's healthcheck), through the master's API.
 */
import { loadConfig } from '../../common/config.ts';
import { catalogueEntries } from '../../doctor/boot/diagnose.ts';
import type { BootDiagnosis } from '../../doctor/boot/schema.ts';
import { exitCodeOf, runDoctor } from '../../doctor/network/checks.ts';
import { realProbes } from '../../doctor/network/probes.ts';
import { checkNodes, type NodeHealthInput } from '../../doctor/nodes.ts';
import { parseFlags } from '../args.ts';
import { cluster, common, wrap } from './client-commands.ts';
import { formatChecks, formatDiagnosis } from './doctor-format.ts';

export const USAGE = `usage: picluster doctor [NODE] [--nodes] [--list] [--config FILE] [--no-dhcp] [--no-power] [--json]

  picluster doctor             checks this machine for what breaks netboot: the boot interface,
                               ports 67/69/4011/HTTP, the firewall, other DHCP/PXE servers answering
                               (sends one PXE DISCOVER; needs root), STP on a bridge, the image and
                               its manifest, the inventory, every power driver (status read), the clock
  picluster doctor node7.lan   why node7.lan does (not) boot: its latest boot attempt matched
                               against known netboot failures, each with a fix (asks the master)
  picluster doctor --nodes     agents connected, heartbeat ages, throttling (asks the master)
  picluster doctor --list      the catalogue of known boot failures
Config: FILE (or $PICLUSTER_CONFIG, or ./picluster.yaml). The master is found with --url/--token
(or PICLUSTER_URL/PICLUSTER_TOKEN). Exit code: 0 when nothing fails (warnings allowed), 1 otherwise.`;

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');

export const doctorCommand = wrap(USAGE, async (argv) => {
  const { values, positionals } = parseFlags(
    argv,
    {
      ...common,
      list: { type: 'boolean' },
      nodes: { type: 'boolean' },
      config: { type: 'string', short: 'c' },
      'no-dhcp': { type: 'boolean' },
      'no-power': { type: 'boolean' },
      'dhcp-listen-ms': { type: 'string' },
    },
    true,
  );
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
  const file = values.config ?? process.env.PICLUSTER_CONFIG ?? 'picluster.yaml';
  const config = loadConfig({ file, required: values.config !== undefined || process.env.PICLUSTER_CONFIG !== undefined, env: process.env });
  if (values.nodes) {
    const nodes = (await cluster(values).request('GET', '/api/nodes')) as NodeHealthInput[];
    const rows = checkNodes(nodes, Date.now(), config.scheduler.heartbeatMs);
    out(values.json ? JSON.stringify(rows, null, 2) : formatChecks(rows));
    return exitCodeOf(rows);
  }
  const listenMs = values['dhcp-listen-ms'] === undefined ? undefined : Number(values['dhcp-listen-ms']);
  const rows = await runDoctor(config, realProbes(config, listenMs !== undefined && listenMs > 0 ? { dhcpListenMs: listenMs } : {}), {
    dhcp: !values['no-dhcp'],
    power: !values['no-power'],
  });
  out(values.json ? JSON.stringify(rows, null, 2) : formatChecks(rows));
  return exitCodeOf(rows);
});
