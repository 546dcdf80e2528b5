/// <reference lib="dom" />
/** Alerts from `GET /api/alerts` (the node-lifecycle work adds it); an empty state until then. */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api.ts';
import { Card, Empty, ErrorBox } from '../components.ts';
import { time } from '../format.ts';
import { useLive } from '../state.ts';

interface Alert {
  id?: string | number;
  name?: string;
  kind?: string;
  severity?: string;
  message?: string;
  node?: string;
  at?: number;
  since?: number;
  state?: string;
  resolvedAt?: number;
}

export function AlertsPage(): ComponentChild {
  const live = useLive();
  const [alerts, setAlerts] = useState<Alert[] | undefined>(undefined);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  // Re-read when node events arrive (alerts are raised by node state changes), not on a timer.
  const stamp = live.events[0]?.at ?? 0;
  useEffect(() => {
    api<Alert[] | { alerts: Alert[] }>('GET', '/api/alerts')
      .then((a) => (setAlerts(Array.isArray(a) ? a : a.alerts ?? []), setMissing(false), setError(undefined)))
      .catch((e) => {
        if (e instanceof ApiError && e.status === 404) setMissing(true);
        else setError(e);
      });
  }, [stamp]);
  return h(
    'main',
    null,
    h('h1', null, 'Alerts'),
    h(
      Card,
      { title: 'Alerts' },
      h(ErrorBox, { error }),
      missing
        ? h(Empty, null, 'This master has no alert source yet (GET /api/alerts is not available). Lost and quarantined nodes show on the dashboard.')
        : alerts === undefined
          ? h(Empty, null, 'Loading…')
          : alerts.length === 0
            ? h(Empty, null, 'No alerts. All quiet.')
            : h(
                'table',
                { 'aria-label': 'Alerts' },
                h('thead', null, h('tr', null, ['Severity', 'Alert', 'Node', 'Message', 'Since'].map((c) => h('th', { scope: 'col', key: c }, c)))),
                h(
                  'tbody',
                  null,
                  alerts.map((a, i) =>
                    h(
                      'tr',
                      { key: String(a.id ?? i) },
                      h('td', null, h('span', { class: `badge sev-${(a.severity ?? 'info').replace(/[^a-z]/g, '')}` }, a.severity ?? 'info')),
                      h('td', null, a.name ?? a.kind ?? ''),
                      h('td', null, a.node ? h('a', { href: `/nodes/${encodeURIComponent(a.node)}` }, a.node) : '—'),
                      h('td', null, a.message ?? ''),
                      h('td', null, time(a.since ?? a.at)),
                    ),
                  ),
                ),
              ),
    ),
  );
}
