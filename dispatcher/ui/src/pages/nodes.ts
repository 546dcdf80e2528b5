/// <reference lib="dom" />
/**
 * The node table (dispy's httpd table and more): every column sortable, a free-text filter and
 * a state filter, paginated so 1,000 nodes render as fast as 10.
 */
import { h, type ComponentChild } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { Empty, Pager, SortTh, StateBadge, type SortDir } from '../components.ts';
import { ago, bytes, duration, num, throttledFlags } from '../format.ts';
import { useLive } from '../state.ts';
import type { NodeView } from '../types.ts';

interface Column {
  readonly k: string;
  readonly label: string;
  readonly num?: boolean;
  readonly value: (n: NodeView) => string | number | undefined;
  readonly cell?: (n: NodeView) => ComponentChild | string;
}

const uptimeS = (n: NodeView) => (n.connected ? n.health?.uptimeS : undefined);

export const NODE_COLUMNS: readonly Column[] = [
  { k: 'name', label: 'Name', value: (n) => n.name, cell: (n) => h('a', { href: `/nodes/${encodeURIComponent(n.name)}` }, n.name) },
  { k: 'state', label: 'State', value: (n) => n.state, cell: (n) => h(StateBadge, { state: n.state }) },
  { k: 'ip', label: 'IP', value: (n) => n.ip },
  { k: 'mac', label: 'MAC / serial', value: (n) => n.mac ?? n.serial, cell: (n) => [n.mac, n.serial].filter(Boolean).join(' / ') || '—' },
  { k: 'model', label: 'Model', value: (n) => n.model },
  { k: 'slots', label: 'Slots', num: true, value: (n) => n.slots },
  { k: 'running', label: 'Busy', num: true, value: (n) => n.running },
  { k: 'jobsDone', label: 'Jobs done', num: true, value: (n) => n.jobsDone },
  { k: 'jobsFailed', label: 'Failed', num: true, value: (n) => n.jobsFailed },
  { k: 'cpuMs', label: 'CPU time', num: true, value: (n) => n.cpuMs, cell: (n) => duration(n.cpuMs) },
  { k: 'peakMemoryBytes', label: 'Peak mem', num: true, value: (n) => n.peakMemoryBytes, cell: (n) => bytes(n.peakMemoryBytes) },
  { k: 'temp', label: 'Temp °C', num: true, value: (n) => n.health?.temperatureC, cell: (n) => num(n.health?.temperatureC, 1) },
  {
    k: 'throttled',
    label: 'Throttled',
    value: (n) => n.health?.throttled,
    cell: (n) => {
      const f = throttledFlags(n.health?.throttled);
      if (!f.now.length && !f.past.length) return n.health?.throttled === undefined ? '—' : 'no';
      return h(
        'span',
        { class: f.now.length ? 'warn' : 'muted', title: f.past.length ? `since boot: ${f.past.join(', ')}` : undefined },
        f.now.length ? f.now.join(', ') : `earlier: ${f.past.join(', ')}`,
      );
    },
  },
  {
    k: 'image',
    label: 'Image',
    value: (n) => n.imageVersion ?? n.agentVersion,
    cell: (n) => n.imageVersion ?? (n.agentVersion ? `agent ${n.agentVersion}` : '—'),
  },
  { k: 'uptime', label: 'Uptime', num: true, value: uptimeS, cell: (n) => (uptimeS(n) === undefined ? '—' : duration(uptimeS(n)! * 1000)) },
  { k: 'lastSeen', label: 'Last heartbeat', num: true, value: (n) => n.lastSeenAt, cell: (n) => ago(n.lastSeenAt) },
];

const PAGE = 50;

function matches(n: NodeView, q: string): boolean {
  if (!q) return true;
  const hay = [n.name, n.state, n.ip, n.mac, n.serial, n.model, n.imageVersion, n.arch, ...Object.entries(n.labels).map(([k, v]) => `${k}=${v}`)]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .every((w) => hay.includes(w));
}

export function NodesPage(): ComponentChild {
  const live = useLive();
  const [filter, setFilter] = useState('');
  const [stateFilter, setStateFilter] = useState('');
  const [sort, setSort] = useState('name');
  const [dir, setDir] = useState<SortDir>('asc');
  const [offset, setOffset] = useState(0);
  const onSort = (k: string) => {
    if (k === sort) setDir(dir === 'asc' ? 'desc' : 'asc');
    else {
      setSort(k);
      setDir('asc');
    }
    setOffset(0);
  };
  const all = [...live.nodes.values()];
  const states = useMemo(() => [...new Set(all.map((n) => n.state))].sort(), [live.version]);
  const rows = useMemo(() => {
    const col = NODE_COLUMNS.find((c) => c.k === sort) ?? NODE_COLUMNS[0]!;
    const list = all.filter((n) => (!stateFilter || n.state === stateFilter) && matches(n, filter));
    const sign = dir === 'asc' ? 1 : -1;
    list.sort((a, b) => {
      const x = col.value(a);
      const y = col.value(b);
      if (x === undefined && y === undefined) return a.name.localeCompare(b.name, undefined, { numeric: true });
      if (x === undefined) return 1;
      if (y === undefined) return -1;
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
      return c === 0 ? a.name.localeCompare(b.name, undefined, { numeric: true }) : sign * c;
    });
    return list;
  }, [live.version, filter, stateFilter, sort, dir]);
  const page = rows.slice(offset, offset + PAGE);
  return h(
    'main',
    null,
    h('h1', null, 'Nodes'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'node-filter', class: 'sr-only' }, 'Filter nodes'),
      h('input', {
        id: 'node-filter',
        type: 'search',
        placeholder: 'Filter: name, IP, MAC, model, label…',
        value: filter,
        onInput: (e: Event) => (setFilter((e.target as HTMLInputElement).value), setOffset(0)),
      }),
      h('label', { for: 'node-state' }, 'State'),
      h(
        'select',
        { id: 'node-state', value: stateFilter, onChange: (e: Event) => (setStateFilter((e.target as HTMLSelectElement).value), setOffset(0)) },
        h('option', { value: '' }, 'any'),
        states.map((s) => h('option', { key: s, value: s }, s)),
      ),
    ),
    rows.length === 0
      ? h(
          Empty,
          null,
          all.length === 0 ? 'No nodes yet. Start an agent (npm start runs two local ones) or add nodes to the inventory.' : 'No node matches the filter.',
        )
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'nodes', 'aria-label': 'Nodes' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                NODE_COLUMNS.map((c) => h(SortTh, { key: c.k, label: c.label, k: c.k, sort, dir, onSort, num: c.num })),
              ),
            ),
            h(
              'tbody',
              null,
              page.map((n) =>
                h(
                  'tr',
                  { key: n.name, 'data-node': n.name },
                  NODE_COLUMNS.map((c) =>
                    h(
                      c.k === 'name' ? 'th' : 'td',
                      { key: c.k, class: c.num ? 'num' : undefined, scope: c.k === 'name' ? 'row' : undefined, 'data-col': c.k },
                      c.cell ? c.cell(n) : String(c.value(n) ?? '—'),
                    ),
                  ),
                ),
              ),
            ),
          ),
        ),
    h(Pager, { offset, limit: PAGE, total: rows.length, onPage: setOffset, label: 'nodes' }),
  );
}
