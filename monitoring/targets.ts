/**
 * `npm run monitoring:targets -- [--config picluster.yaml] [--master host:port] [--out dir]`
 *
 * Writes Prometheus file_sd target files from the master's config and the inventory:
 * - `master.json`: the master's `/metrics` (from `--master`, else `http.publicUrl`, else
 *   `http.host:http.port`, with 0.0.0.0 read as 127.0.0.1: Prometheus runs beside the master).
 * - `node-exporters.json`: inventory nodes labelled `node_exporter: "<port>"` (machines with a
 *   disk that run their own node_exporter). RAM-only Pis need none: the master exposes their
 *   health as `picluster_node_*`.
 * Files are written atomically (temp + rename), as file_sd expects of a watched file.
 */
import { renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../common/config.ts';
import { loadInventory, type Inventory } from '../inventory/inventory.ts';

export interface TargetGroup {
  readonly targets: string[];
  readonly labels: Record<string, string>;
}

const labelName = (k: string): string => k.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^([0-9])/, '_$1');

export function masterTarget(config: Pick<Config, 'http'>, override?: string): string {
  if (override) return override;
  if (config.http.publicUrl) {
    const u = new URL(config.http.publicUrl);
    return `${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`;
  }
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  return `${host}:${config.http.port}`;
}

export function generateTargets(
  config: Pick<Config, 'http'>,
  inventory: Inventory,
  options: { master?: string } = {},
): Record<'master.json' | 'node-exporters.json', TargetGroup[]> {
  const exporters: TargetGroup[] = [];
  for (const n of inventory.nodes) {
    const port = n.labels.node_exporter;
    if (!port) continue;
    const labels: Record<string, string> = { node: n.name, model: n.model };
    for (const [k, v] of Object.entries(n.labels)) if (k !== 'node_exporter') labels[`label_${labelName(k)}`] = v;
    exporters.push({ targets: [`${n.ipv4 ?? n.name}:${port}`], labels });
  }
  return {
    'master.json': [{ targets: [masterTarget(config, options.master)], labels: { role: 'master' } }],
    'node-exporters.json': exporters,
  };
}

export function writeTargets(dir: string, files: Record<string, TargetGroup[]>): string[] {
  mkdirSync(dir, { recursive: true });
  return Object.entries(files).map(([name, groups]) => {
    const path = join(dir, name);
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(groups, null, 2) + '\n');
    renameSync(tmp, path);
    return path;
  });
}

export function run(argv: string[], env: Readonly<Record<string, string | undefined>> = {}): number {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, master: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write('usage: npm run monitoring:targets -- [--config picluster.yaml] [--master host:port] [--out monitoring/targets]\n');
    return 0;
  }
  const file = values.config ?? env.PICLUSTER_CONFIG ?? 'picluster.yaml';
  const config = loadConfig({ file, required: values.config !== undefined, env });
  const inventory = loadInventory(config.inventory.path);
  const out = resolve(values.out ?? join(import.meta.dirname, 'targets'));
  for (const path of writeTargets(out, generateTargets(config, inventory, values.master ? { master: values.master } : {})))
    process.stdout.write(`wrote ${path}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = run(process.argv.slice(2), process.env);
}
