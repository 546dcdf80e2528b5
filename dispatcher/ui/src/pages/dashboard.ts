/// <reference lib="dom" />
import { h, type ComponentChild } from 'preact';
import { SeverityBadge, useAlerts } from '../alerts.ts';
import { Card, Chart, Empty, ErrorBox } from '../components.ts';
import { time } from '../format.ts';
import { useLive } from '../state.ts';
import type { FeedItem } from '../types.ts';

const NODE_ORDER = [
  'online',
  'busy',
  'draining',
  'drained',
  'booting',
  'suspect',
  'lost',
  'rebooting',
  'power-cycling',
  'maintenance',
  'quarantined',
  'offline',
  'pending-approval',
];
const JOB_ORDER = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export function FeedList({ items, showNode = true }: { items: FeedItem[]; showNode?: boolean }): ComponentChild {
  if (items.length === 0) return h(Empty, null, 'No events yet.');
  return h(
    'ol',
    { class: 'feed' },
    items.map((e, i) =>
      h(
        'li',
        { key: `${e.at}-${i}` },
        h('time', { dateTime: new Date(e.at).toISOString() }, time(e.at)),
        showNode && e.node ? h('a', { href: `/nodes/${encodeURIComponent(e.node)}`, class: 'node' }, e.node) : null,
        h('span', { class: `kind k-${e.type}` }, e.kind),
        h('span', { class: 'msg' }, e.type === 'node' ? `${e.message}${e.actor && e.actor !== 'system' ? ` (${e.actor})` : ''}` : bootText(e)),
      ),
    ),
  );
}

export function bootText(e: { outcome: string; reason?: string; mac?: string; detail?: Record<string, string | number | boolean> }): string {
  const d = e.detail ?? {};
  const parts = [e.outcome];
  if (d.step !== undefined) parts.push(String(d.step));
  if (d.file !== undefined) parts.push(String(d.file));
  if (d.bytes !== undefined) parts.push(`${d.bytes} B`);
  if (d.durationMs !== undefined) parts.push(`${d.durationMs} ms`);
  if (e.reason) parts.push(`— ${e.reason}`);
  if (e.mac) parts.push(`[${e.mac}]`);
  return parts.join(' ');
}

export function DashboardPage(): ComponentChild {
  const live = useLive();
  const nodes = [...live.nodes.values()];
  const byState = new Map<string, number>();
  let slots = 0;
  let busy = 0;
  for (const n of nodes) {
    byState.set(n.state, (byState.get(n.state) ?? 0) + 1);
    if (n.connected) {
      slots += n.slots;
      busy += n.running;
    }
  }
  const states = [...byState.keys()].sort((a, b) => NODE_ORDER.indexOf(a) - NODE_ORDER.indexOf(b));
  const tp = live.throughput;
  const times = tp.map((c) => c.t / 1000);
  const rate = tp.map((c) => {
    const n = c.succeeded + c.failed;
    return n ? Math.round((1000 * c.failed) / n) / 10 : null;
  });
  const lastHour = tp.reduce((a, c) => ({ ok: a.ok + c.succeeded, failed: a.failed + c.failed }), { ok: 0, failed: 0 });
  const alertsFeed = useAlerts();
  const alerts = alertsFeed.data?.alerts.filter((a) => a.resolvedAt === undefined);
  const pct = slots ? Math.round((100 * busy) / slots) : 0;
  return h(
    'main',
    { class: 'dashboard' },
    h('h1', null, 'Dashboard'),
    h(
      'div',
      { class: 'grid' },
      h(
        Card,
        { title: 'Nodes' },
        h('p', { class: 'big' }, String(nodes.length), h('span', { class: 'muted' }, ` · ${nodes.filter((n) => n.connected).length} connected`)),
        h(
          'ul',
          { class: 'chips', 'aria-label': 'Nodes by state' },
          states.map((s) => h('li', { key: s, class: `badge s-${s}` }, `${s} ${byState.get(s)}`)),
        ),
      ),
      h(
        Card,
        { title: 'Slots' },
        h('p', { class: 'big' }, `${busy} / ${slots}`, h('span', { class: 'muted' }, ' busy')),
        h(
          'div',
          { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': slots, 'aria-valuenow': busy, 'aria-label': 'Slots busy' },
          h('span', { class: 'fill', style: { width: `${pct}%` } }),
        ),
      ),
      h(
        Card,
        { title: 'Queue' },
        h(
          'dl',
          { class: 'counts' },
          JOB_ORDER.flatMap((s) => [h('dt', { key: `t${s}`, class: `badge s-${s}` }, s), h('dd', { key: `d${s}` }, String(live.counts[s] ?? 0))]),
        ),
        h('p', { class: 'muted small' }, `ready ${live.queue.ready} · delayed (retry backoff) ${live.queue.delayed}`),
      ),
      h(
        Card,
        { title: 'Last hour' },
        h('p', { class: 'big' }, String(lastHour.ok), h('span', { class: 'muted' }, ' succeeded')),
        h(
          'p',
          null,
          `${lastHour.failed} failed · failure rate ${lastHour.ok + lastHour.failed ? ((100 * lastHour.failed) / (lastHour.ok + lastHour.failed)).toFixed(1) : '0.0'}%`,
        ),
      ),
    ),
    h(
      Card,
      { title: 'Throughput and failure rate (jobs per minute, last hour)', class: 'wide' },
      h(Chart, {
        title: 'Finished jobs per minute and failure rate',
        times,
        yLabel: 'jobs/min',
        y2Label: 'failure %',
        series: [
          { label: 'succeeded/min', color: '#2f9e44', values: tp.map((c) => c.succeeded), bars: true },
          { label: 'failed/min', color: '#e03131', values: tp.map((c) => c.failed), bars: true },
          { label: 'failure %', color: '#f08c00', scale: 'pct', values: rate },
        ],
      }),
    ),
    h(
      'div',
      { class: 'grid two' },
      h(Card, { title: 'Recent events' }, h(FeedList, { items: live.events.slice(0, 25) })),
      h(
        Card,
        { title: `Active alerts${alerts ? ` (${alerts.length})` : ''}` },
        h(ErrorBox, { error: alertsFeed.error }),
        alerts === undefined
          ? h(Empty, null, 'Loading…')
          : alerts.length === 0
            ? h(Empty, null, 'No active alerts.')
            : h(
                'ul',
                { class: 'alerts', 'aria-label': 'Active alerts' },
                alerts
                  .slice(0, 10)
                  .map((a) =>
                    h(
                      'li',
                      { key: a.id },
                      h(SeverityBadge, { severity: a.severity }),
                      ' ',
                      h('strong', null, a.kind),
                      a.node ? [' ', h('a', { href: `/nodes/${encodeURIComponent(a.node)}` }, a.node)] : null,
                      ' ',
                      h('span', { class: 'msg' }, a.message),
                      ' ',
                      h('time', { class: 'muted', dateTime: new Date(a.raisedAt).toISOString() }, time(a.raisedAt)),
                    ),
                  ),
              ),
        h('p', null, h('a', { href: '/alerts' }, 'All alerts')),
      ),
    ),
  );
}
