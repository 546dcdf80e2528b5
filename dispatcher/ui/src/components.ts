/// <reference lib="dom" />
/** Small shared pieces: badges, sortable headers, pager, confirm dialog, error box, charts. */
import { h, type ComponentChildren, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { errorText } from './api.ts';

export function StateBadge({ state }: { state: string }): ComponentChild {
  return h('span', { class: `badge s-${state.replace(/[^a-z-]/g, '')}` }, state);
}

export function ErrorBox({ error }: { error: unknown }): ComponentChild | null {
  if (!error) return null;
  return h('p', { class: 'error', role: 'alert' }, errorText(error));
}

export type SortDir = 'asc' | 'desc';

export function SortTh({
  label,
  k,
  sort,
  dir,
  onSort,
  num,
}: {
  label: string;
  k: string;
  sort: string;
  dir: SortDir;
  onSort: (k: string) => void;
  num?: boolean;
}): ComponentChild {
  const active = sort === k;
  return h(
    'th',
    { scope: 'col', class: num ? 'num' : undefined, 'aria-sort': active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none' },
    h(
      'button',
      { type: 'button', class: 'sort', onClick: () => onSort(k) },
      label,
      h('span', { class: 'arrow', 'aria-hidden': 'true' }, active ? (dir === 'asc' ? ' ▲' : ' ▼') : ''),
    ),
  );
}

export function Pager({
  offset,
  limit,
  total,
  onPage,
  label,
}: {
  offset: number;
  limit: number;
  total: number;
  onPage: (offset: number) => void;
  label: string;
}): ComponentChild | null {
  if (total <= limit && offset === 0) return h('p', { class: 'muted small' }, `${total} ${label}`);
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return h(
    'nav',
    { class: 'pager', 'aria-label': `${label} pages` },
    h('button', { type: 'button', disabled: offset === 0, onClick: () => onPage(Math.max(0, offset - limit)) }, '‹ Prev'),
    h('span', null, `Page ${page} of ${pages} · ${total} ${label}`),
    h('button', { type: 'button', disabled: offset + limit >= total, onClick: () => onPage(offset + limit) }, 'Next ›'),
  );
}

/** A button that asks first (native `<dialog>`), then runs `action`; its error is shown inline. */
export function ConfirmButton({
  label,
  question,
  action,
  danger,
  disabled,
  title,
  class: cls,
}: {
  label: string;
  question: string;
  action: () => Promise<unknown>;
  danger?: boolean;
  disabled?: boolean;
  title?: string;
  class?: string;
}): ComponentChild {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState('');
  const run = async () => {
    dialog.current?.close();
    setBusy(true);
    setError(undefined);
    setDone('');
    try {
      await action();
      setDone(`${label}: done`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return h(
    'span',
    { class: `confirm ${cls ?? ''}` },
    h('button', { type: 'button', class: danger ? 'danger' : undefined, disabled: busy || disabled, title, onClick: () => dialog.current?.showModal() }, label),
    h(
      'dialog',
      { ref: dialog, 'aria-label': `Confirm ${label}` },
      h('p', null, question),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', onClick: () => dialog.current?.close() }, 'Cancel'),
        h('button', { type: 'button', class: danger ? 'danger' : 'primary', onClick: () => void run() }, `Yes, ${label.toLowerCase()}`),
      ),
    ),
    error ? h('span', { class: 'error inline', role: 'alert' }, errorText(error)) : null,
    done ? h('span', { class: 'ok inline', role: 'status' }, done) : null,
  );
}

export function Card({ title, children, class: cls }: { title: string; children?: ComponentChildren; class?: string }): ComponentChild {
  return h('section', { class: `card ${cls ?? ''}`, 'aria-label': title }, h('h2', null, title), children);
}

export interface Series {
  label: string;
  color: string;
  scale?: string;
  values: (number | null)[];
  bars?: boolean;
}

/** A uPlot chart; data updates call `setData` (no re-create), width follows the container. */
export function Chart({
  title,
  times,
  series,
  height = 180,
  yLabel,
  y2Label,
  yRange,
  emptyText,
}: {
  title: string;
  times: number[];
  series: Series[];
  height?: number;
  yLabel?: string;
  y2Label?: string;
  yRange?: [number, number];
  emptyText?: string;
}): ComponentChild {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = series.map((s) => s.label).join('|');
  useEffect(() => {
    const host = el.current!;
    const width = Math.max(200, host.clientWidth);
    const opts: uPlot.Options = {
      width,
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        ...(yRange ? { y: { range: yRange } } : {}),
        ...(series.some((s) => s.scale === 'pct') ? { pct: { range: [0, 100] } } : {}),
      },
      axes: [
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.15)' } },
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.15)' }, ...(yLabel ? { label: yLabel } : {}) },
        ...(series.some((s) => s.scale === 'pct')
          ? [{ scale: 'pct', side: 1, stroke: 'currentColor', grid: { show: false }, ...(y2Label ? { label: y2Label } : {}) }]
          : []),
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          ...(s.scale ? { scale: s.scale } : {}),
          ...(s.bars ? { fill: `${s.color}55`, paths: uPlot.paths.bars!({ size: [0.7, 40] }), points: { show: false } } : {}),
          spanGaps: true,
        })),
      ],
    };
    plot.current = new uPlot(opts, [times, ...series.map((s) => s.values)] as uPlot.AlignedData, host);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, host.clientWidth), height }));
    ro.observe(host);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [key, height]);
  useEffect(() => {
    plot.current?.setData([times, ...series.map((s) => s.values)] as uPlot.AlignedData);
  });
  const empty = emptyText !== undefined && series.every((s) => s.values.every((v) => v === null || v === undefined));
  return h(
    'figure',
    { class: 'chart' },
    h('figcaption', null, title),
    empty ? h('p', { class: 'empty' }, emptyText) : null,
    h('div', { ref: el, role: 'img', 'aria-label': title, hidden: empty }),
  );
}

export function Empty({ children }: { children?: ComponentChildren }): ComponentChild {
  return h('p', { class: 'empty' }, children);
}
