/**
 * Dependency-free SVG charts for the benches (docs/BENCHMARKS.md embeds what they write):
 * grouped bars (one group per case, one bar per server) and lines (a series of points per
 * server, e.g. clients done over time). Pure: data in, SVG text out.
 */

export interface BarChart {
  readonly title: string;
  readonly unit: string;
  readonly categories: readonly string[];
  readonly series: readonly { readonly name: string; readonly values: readonly (number | undefined)[] }[];
}

export interface LineChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly { readonly name: string; readonly points: readonly (readonly [number, number])[] }[];
  /** Vertical marker lines, e.g. the link-rate bound. */
  readonly markers?: readonly { readonly x: number; readonly label: string }[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const W = 720;
const H = 360;
const M = { left: 64, right: 16, top: 40, bottom: 70 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number): string => (Number.isInteger(v) || Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A "nice" axis maximum and tick step for values up to `max`. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { max: Math.ceil(max / step) * step, step };
}

function frame(title: string, body: string[], legend: readonly string[]): string {
  const items = legend.map(
    (name, i) =>
      `<rect x="${M.left + i * 150}" y="${H - 22}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>` +
      `<text x="${M.left + i * 150 + 18}" y="${H - 12}" font-size="12">${esc(name)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" font-size="15" text-anchor="middle">${esc(title)}</text>`,
    ...body,
    ...items,
    '</svg>',
    '',
  ].join('\n');
}

function yAxis(max: number, step: number, label: string): string[] {
  const out: string[] = [];
  const plotH = H - M.top - M.bottom;
  for (let v = 0; v <= max + step / 2; v += step) {
    const y = M.top + plotH - (v / max) * plotH;
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${y + 4}" font-size="11" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(`<text x="14" y="${M.top + plotH / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${M.top + plotH / 2})">${esc(label)}</text>`);
  return out;
}

export function barChartSvg(c: BarChart): string {
  const all = c.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const { max, step } = niceScale(Math.max(0, ...all));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const groupW = plotW / Math.max(1, c.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, c.series.length);
  const body = yAxis(max, step, c.unit);
  c.categories.forEach((cat, gi) => {
    const gx = M.left + gi * groupW + groupW * 0.1;
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === undefined) return;
      const h = (v / max) * plotH;
      const x = gx + si * barW;
      body.push(
        `<rect x="${x.toFixed(1)}" y="${(M.top + plotH - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[si % COLORS.length]}"/>`,
      );
      body.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(M.top + plotH - h - 3).toFixed(1)}" font-size="10" text-anchor="middle">${fmt(v)}</text>`);
    });
    body.push(`<text x="${(gx + groupW * 0.4).toFixed(1)}" y="${M.top + plotH + 16}" font-size="11" text-anchor="middle">${esc(cat)}</text>`);
  });
  return frame(
    c.title,
    body,
    c.series.map((s) => s.name),
  );
}

export function lineChartSvg(c: LineChart): string {
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0])).concat((c.markers ?? []).map((m) => m.x));
  const ys = c.series.flatMap((s) => s.points.map((p) => p[1]));
  const xs_ = niceScale(Math.max(0, ...xs));
  const ys_ = niceScale(Math.max(0, ...ys));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const px = (x: number): number => M.left + (x / xs_.max) * plotW;
  const py = (y: number): number => M.top + plotH - (y / ys_.max) * plotH;
  const body = yAxis(ys_.max, ys_.step, c.yLabel);
  for (let x = 0; x <= xs_.max + xs_.step / 2; x += xs_.step) {
    body.push(`<text x="${px(x).toFixed(1)}" y="${M.top + plotH + 16}" font-size="11" text-anchor="middle">${fmt(x)}</text>`);
  }
  body.push(`<text x="${M.left + plotW / 2}" y="${M.top + plotH + 34}" font-size="12" text-anchor="middle">${esc(c.xLabel)}</text>`);
  for (const m of c.markers ?? []) {
    body.push(`<line x1="${px(m.x).toFixed(1)}" x2="${px(m.x).toFixed(1)}" y1="${M.top}" y2="${M.top + plotH}" stroke="#888" stroke-dasharray="4 3"/>`);
    body.push(`<text x="${(px(m.x) + 4).toFixed(1)}" y="${M.top + 12}" font-size="11" fill="#555">${esc(m.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    body.push(`<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
  });
  return frame(
    c.title,
    body,
    c.series.map((s) => s.name),
  );
}
