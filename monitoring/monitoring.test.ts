/**
 * monitoring/ as shipped: promtool accepts the Prometheus config and the rules, the rule unit
 * tests pass and cover every alert (firing, then resolved), the dashboards JSON matches its
 * source, and the file_sd generator writes what prometheus.yml reads.
 * promtool comes from Debian's `prometheus` package (.ci/packages.txt); without it the promtool
 * checks skip, saying so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../common/config.ts';
import { buildInventory } from '../inventory/inventory.ts';
import { DATASOURCE, renderAll } from './grafana/dashboards.ts';
import type { RuleFile } from './metric-names.ts';
import { generateTargets, masterTarget, writeTargets } from './targets.ts';

const DIR = import.meta.dirname;
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
const promtool = (...args: string[]) => spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });

const rules = parseYaml(readFileSync(join(DIR, 'rules', 'picluster.rules.yml'), 'utf8')) as RuleFile;
const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert).filter((a): a is string => !!a));

interface RuleTest {
  name: string;
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: unknown[] }[];
}
const ruleTests = (parseYaml(readFileSync(join(DIR, 'rules', 'picluster.rules.test.yml'), 'utf8')) as { tests: RuleTest[] }).tests;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!hasPromtool)('promtool (skipped: promtool not installed; apt-get install prometheus)', () => {
  it('accepts prometheus.yml (and the rule files it loads)', () => {
    const r = promtool('check', 'config', 'prometheus.yml');
    expect(r.stderr + r.stdout).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });

  it('accepts the alert rules', () => {
    const r = promtool('check', 'rules', 'rules/picluster.rules.yml');
    expect(r.stdout).toMatch(new RegExp(`SUCCESS: ${alerts.length} rules found`));
    expect(r.status).toBe(0);
  });

  it('passes the rule unit tests', () => {
    const r = promtool('test', 'rules', 'rules/picluster.rules.test.yml');
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('can fail: a test expecting the wrong alert labels is rejected', () => {
    const d = mkdtempSync(join(tmpdir(), 'picluster-promtool-'));
    dirs.push(d);
    writeFileSync(join(d, 'picluster.rules.yml'), readFileSync(join(DIR, 'rules', 'picluster.rules.yml')));
    writeFileSync(
      join(d, 'broken.test.yml'),
      'rule_files: [picluster.rules.yml]\ntests:\n  - interval: 1m\n    input_series:\n      - { series: \'picluster_node_state{node="n1",state="lost"}\', values: "1x5" }\n    alert_rule_test:\n      - { eval_time: 3m, alertname: PiclusterNodeLost, exp_alerts: [] }\n',
    );
    const r = spawnSync('promtool', ['test', 'rules', 'broken.test.yml'], { cwd: d, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/FAILED/);
  });
});

describe('rule tests cover every alert', () => {
  it.each(alerts)('%s fires and later resolves in some test', (alert) => {
    const covered = ruleTests.some((t) => {
      const cases = (t.alert_rule_test ?? []).filter((c) => c.alertname === alert);
      const minutes = (s: string) => Number(/^(\d+)m$/.exec(s)?.[1] ?? NaN);
      const firing = cases.filter((c) => c.exp_alerts.length > 0).map((c) => minutes(c.eval_time));
      const quiet = cases.filter((c) => c.exp_alerts.length === 0).map((c) => minutes(c.eval_time));
      return firing.some((f) => quiet.some((q) => q > f));
    });
    expect(covered).toBe(true);
  });

  it('every alert has a severity and a summary', () => {
    for (const g of rules.groups) {
      for (const r of g.rules as { alert?: string; labels?: { severity?: string }; annotations?: { summary?: string } }[]) {
        if (!r.alert) continue;
        expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
        expect(r.annotations?.summary, r.alert).toBeTruthy();
      }
    }
  });
});

describe('Grafana provisioning', () => {
  it('the dashboards JSON is what dashboards.ts renders (run it after editing)', () => {
    for (const [file, text] of Object.entries(renderAll())) {
      expect(readFileSync(join(DIR, 'grafana', 'dashboards', file), 'utf8'), `${file} is stale: node --import tsx monitoring/grafana/dashboards.ts`).toBe(text);
    }
  });

  it('has the four dashboards, each panel on the provisioned datasource, unique uids', () => {
    const files = Object.keys(renderAll()).sort();
    expect(files).toEqual(['cluster-overview.json', 'jobs.json', 'netboot.json', 'node-detail.json']);
    const ds = parseYaml(readFileSync(join(DIR, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: { uid: string }[] };
    expect(ds.datasources.map((d) => d.uid)).toEqual([DATASOURCE.uid]);
    const uids = new Set<string>();
    for (const f of files) {
      const d = JSON.parse(readFileSync(join(DIR, 'grafana', 'dashboards', f), 'utf8')) as {
        uid: string;
        panels: { id: number; datasource: { uid: string }; gridPos: { x: number; w: number } }[];
      };
      uids.add(d.uid);
      expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
      for (const p of d.panels) {
        expect(p.datasource.uid).toBe(DATASOURCE.uid);
        expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      }
    }
    expect(uids.size).toBe(files.length);
  });

  it('compose.yaml mounts files that exist', () => {
    const compose = parseYaml(readFileSync(join(DIR, 'compose.yaml'), 'utf8')) as { services: Record<string, { volumes: string[] }> };
    const mounts = Object.values(compose.services)
      .flatMap((s) => s.volumes)
      .map((v) => v.split(':')[0]!)
      .filter((p) => p.startsWith('./'));
    expect(mounts.length).toBeGreaterThanOrEqual(5);
    for (const m of mounts) expect(existsSync(join(DIR, m)), m).toBe(true);
  });
});

describe('file_sd targets from the inventory', () => {
  const inventory = buildInventory({
    nodes: [
      { name: 'node6.lan', mac: 'b8:27:eb:10:00:06' },
      { name: 'x86-1', mac: '52:54:00:00:00:01', model: 'x86-64', ipv4: '10.0.0.21', labels: { node_exporter: '9100', 'rack.row': 'a' } },
    ],
  });

  it.each([
    [{ host: '0.0.0.0', port: 8080 }, undefined, '127.0.0.1:8080'],
    [{ host: '10.0.0.1', port: 9000 }, undefined, '10.0.0.1:9000'],
    [{ host: '0.0.0.0', port: 8080, publicUrl: 'http://master.lan:8081/' }, undefined, 'master.lan:8081'],
    [{ host: '0.0.0.0', port: 8080, publicUrl: 'https://master.lan' }, undefined, 'master.lan:443'],
    [{ host: '0.0.0.0', port: 8080 }, '192.168.1.5:8080', '192.168.1.5:8080'],
  ])('master target for %j (override %s) is %s', (http, override, expected) => {
    expect(masterTarget({ http: { bodyLimitBytes: 1024, ...http } }, override)).toBe(expected);
  });

  it('lists nodes that run a node_exporter, with sanitised inventory labels', () => {
    const files = generateTargets(loadConfig(), inventory);
    expect(files['master.json']).toEqual([{ targets: ['127.0.0.1:8080'], labels: { role: 'master' } }]);
    expect(files['node-exporters.json']).toEqual([{ targets: ['10.0.0.21:9100'], labels: { node: 'x86-1', model: 'x86-64', label_rack_row: 'a' } }]);
  });

  it('writes the files prometheus.yml reads, as JSON target groups', () => {
    const d = mkdtempSync(join(tmpdir(), 'picluster-targets-'));
    dirs.push(d);
    const written = writeTargets(join(d, 'targets'), generateTargets(loadConfig(), inventory));
    const prom = parseYaml(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { scrape_configs: { file_sd_configs?: { files: string[] }[] }[] };
    const wanted = prom.scrape_configs.flatMap((s) => s.file_sd_configs ?? []).flatMap((f) => f.files);
    expect(written.map((p) => p.slice(d.length + 1)).sort()).toEqual([...wanted].sort());
    for (const p of written) expect(Array.isArray(JSON.parse(readFileSync(p, 'utf8')))).toBe(true);
  });
});
