/**
 * The little language the Grafana dashboards are written in (`dashboards.ts`): panels (time
 * series, stats) from PromQL targets laid out on Grafana's 24-column grid, and a dashboard spec
 * rendered to the JSON model Grafana's file provisioning loads.
 */

export const DATASOURCE = { type: 'prometheus', uid: 'picluster-prometheus' } as const;

export interface Target {
  readonly expr: string;
  readonly legend?: string;
  readonly instant?: boolean;
}
export type Unit = 'short' | 'percentunit' | 'celsius' | 'bytes' | 'Bps' | 's' | 'ops' | 'hertz' | 'none' | 'reqps';

export interface PanelSpec {
  readonly title: string;
  readonly kind: 'timeseries' | 'stat' | 'table' | 'state-timeline';
  readonly targets: readonly Target[];
  readonly unit?: Unit;
  readonly w?: number;
  readonly h?: number;
  readonly description?: string;
  readonly thresholds?: readonly [number, string][];
  readonly stack?: boolean;
  readonly mappings?: readonly { value: string; text: string; color: string }[];
}

export const ts = (title: string, targets: Target[], unit: Unit = 'short', extra: Partial<PanelSpec> = {}): PanelSpec => ({
  title,
  kind: 'timeseries',
  targets,
  unit,
  ...extra,
});
export const stat = (title: string, expr: string, unit: Unit = 'short', extra: Partial<PanelSpec> = {}): PanelSpec => ({
  title,
  kind: 'stat',
  targets: [{ expr, instant: true }],
  unit,
  w: 4,
  h: 4,
  ...extra,
});
export const t = (expr: string, legend?: string): Target => ({ expr, ...(legend ? { legend } : {}) });

function panel(spec: PanelSpec, id: number, x: number, y: number): Record<string, unknown> {
  const w = spec.w ?? 12;
  const h = spec.h ?? 8;
  const steps = [{ color: 'green', value: null }, ...(spec.thresholds ?? []).map(([value, color]) => ({ color, value }))];
  return {
    id,
    type: spec.kind,
    title: spec.title,
    ...(spec.description ? { description: spec.description } : {}),
    datasource: DATASOURCE,
    gridPos: { x, y, w, h },
    targets: spec.targets.map((tg, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: tg.expr,
      ...(tg.legend ? { legendFormat: tg.legend } : {}),
      ...(tg.instant || spec.kind === 'stat' || spec.kind === 'table' ? { instant: true, range: false } : { range: true }),
    })),
    fieldConfig: {
      defaults: {
        unit: spec.unit ?? 'short',
        thresholds: { mode: 'absolute', steps },
        ...(spec.mappings
          ? { mappings: [{ type: 'value', options: Object.fromEntries(spec.mappings.map((m, i) => [m.value, { text: m.text, color: m.color, index: i }])) }] }
          : {}),
        ...(spec.kind === 'timeseries'
          ? { custom: { fillOpacity: spec.stack ? 30 : 10, lineWidth: 1, ...(spec.stack ? { stacking: { mode: 'normal', group: 'A' } } : {}) } }
          : {}),
      },
      overrides: [],
    },
    options:
      spec.kind === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'none', textMode: 'auto' }
        : spec.kind === 'table'
          ? { showHeader: true }
          : { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
    ...(spec.kind === 'table'
      ? {
          transformations: [
            { id: 'labelsToFields', options: { mode: 'columns' } },
            { id: 'merge', options: {} },
          ],
        }
      : {}),
  };
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags?: readonly string[];
  readonly variables?: readonly { name: string; label: string; query: string; multi?: boolean }[];
  readonly rows: readonly (readonly PanelSpec[])[];
}

export function renderDashboard(spec: DashboardSpec): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let y = 0;
  let id = 1;
  for (const row of spec.rows) {
    let x = 0;
    let rowH = 0;
    for (const p of row) {
      const w = p.w ?? 12;
      if (x + w > 24) {
        x = 0;
        y += rowH;
        rowH = 0;
      }
      panels.push(panel(p, id++, x, y));
      x += w;
      rowH = Math.max(rowH, p.h ?? 8);
    }
    y += rowH;
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ['picluster', ...(spec.tags ?? [])],
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timezone: 'browser',
    templating: {
      list: (spec.variables ?? []).map((v) => ({
        name: v.name,
        label: v.label,
        type: 'query',
        datasource: DATASOURCE,
        query: { query: v.query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
        definition: v.query,
        refresh: 2,
        sort: 3,
        multi: v.multi ?? false,
        includeAll: v.multi ?? false,
      })),
    },
    annotations: { list: [] },
    links: [{ title: 'picluster', type: 'dashboards', tags: ['picluster'], asDropdown: true }],
    panels,
  };
}
