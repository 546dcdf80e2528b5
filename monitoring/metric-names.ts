/**
 * Which metric names the alert rules and Grafana dashboards use, so tests can check each one
 * against a real scrape of a master. PromQL is not parsed: every `picluster_…` identifier is
 * taken, and histogram series suffixes (`_bucket`, `_sum`, `_count`) map to their family.
 * `up` (synthesised by Prometheus, never in a scrape) is reported separately.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

const DIR = import.meta.dirname;

export interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

export function ruleExprs(): string[] {
  const out: string[] = [];
  for (const f of readdirSync(join(DIR, 'rules')).filter((n) => n.endsWith('.rules.yml'))) {
    const doc = parseYaml(readFileSync(join(DIR, 'rules', f), 'utf8')) as RuleFile;
    for (const g of doc.groups) for (const r of g.rules) out.push(r.expr);
  }
  return out;
}

export function dashboardExprs(): { dashboard: string; expr: string }[] {
  const out: { dashboard: string; expr: string }[] = [];
  const dir = join(DIR, 'grafana', 'dashboards');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { panels: { targets?: { expr: string }[] }[]; templating: { list: { definition?: string }[] } };
    for (const p of d.panels) for (const t of p.targets ?? []) out.push({ dashboard: f, expr: t.expr });
    for (const v of d.templating.list) if (v.definition) out.push({ dashboard: f, expr: v.definition });
  }
  return out;
}

/** Metric family names in PromQL text. */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/\bpicluster_[a-zA-Z0-9_]+/g)) names.add(m[0]);
  return [...names];
}

/** `foo_bucket` → `foo` when `foo` is a histogram in the scrape; otherwise the name itself. */
export function familyOf(name: string, families: ReadonlyMap<string, string>): string {
  if (families.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m && ['histogram', 'summary'].includes(families.get(m[1]!) ?? '')) return m[1]!;
  return name;
}

/** `# TYPE name type` lines of a Prometheus text exposition → name → type. */
export function scrapeFamilies(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}
