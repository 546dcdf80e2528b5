/// <reference lib="dom" />
/** Alerts from `GET /api/alerts`: open ones first, resolved ones on request. */
import { h, type ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { SeverityBadge, useAlerts } from '../alerts.ts';
import { Card, Empty, ErrorBox } from '../components.ts';
import { ago, time } from '../format.ts';

export function AlertsPage(): ComponentChild {
  const { data, error } = useAlerts();
  const [showResolved, setShowResolved] = useState(false);
  const all = data?.alerts ?? [];
  const open = all.filter((a) => a.resolvedAt === undefined);
  const shown = showResolved ? all : open;
  return h(
    'main',
    null,
    h('h1', null, 'Alerts'),
    h(
      Card,
      { title: `${showResolved ? 'All alerts' : 'Open alerts'} (${shown.length})` },
      h(ErrorBox, { error }),
      h(
        'div',
        { class: 'toolbar' },
        h(
          'label',
          { class: 'check' },
          h('input', { type: 'checkbox', checked: showResolved, onChange: (e: Event) => setShowResolved((e.target as HTMLInputElement).checked) }),
          ` Show resolved (${all.length - open.length})`,
        ),
        data ? h('span', { class: 'muted small' }, `Circuit breaker: ${data.breakerOpen ? 'open — automatic power cycling paused' : 'closed'}`) : null,
      ),
      data === undefined
        ? h(Empty, null, error ? 'Alerts could not be read.' : 'Loading…')
        : shown.length === 0
          ? h(Empty, null, 'No open alerts. All quiet.')
          : h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { 'aria-label': 'Alerts' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    ['Severity', 'Alert', 'Node', 'Message', 'Raised', 'Resolved'].map((c) => h('th', { scope: 'col', key: c }, c)),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  shown.map((a) =>
                    h(
                      'tr',
                      { key: a.id, 'data-alert': a.kind, class: a.resolvedAt !== undefined ? 'resolved' : undefined },
                      h('td', null, h(SeverityBadge, { severity: a.severity })),
                      h('td', null, a.kind),
                      h('td', null, a.node ? h('a', { href: `/nodes/${encodeURIComponent(a.node)}` }, a.node) : '—'),
                      h('td', { class: 'wrap' }, a.message),
                      h('td', { title: time(a.raisedAt) }, ago(a.raisedAt)),
                      h('td', null, a.resolvedAt !== undefined ? time(a.resolvedAt) : 'open'),
                    ),
                  ),
                ),
              ),
            ),
    ),
  );
}
