/// <reference lib="dom" />
/**
 * Alerts (`GET /api/alerts` → `{ breakerOpen, alerts }`), shared by the layout's circuit-breaker
 * banner, the dashboard and the alerts page: one request per change, whoever is showing them.
 * Not polled: re-read when the server pushes `alerts: true` (a raised alert), on every snapshot,
 * and when a node changes state or a node event arrives (alerts are raised and resolved by
 * node state changes: lost, quarantined, power actions).
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from './api.ts';
import { useLive } from './state.ts';

export interface Alert {
  id: number;
  kind: string;
  node?: string;
  severity: 'warning' | 'critical' | string;
  message: string;
  raisedAt: number;
  resolvedAt?: number;
}

export interface AlertsState {
  breakerOpen: boolean;
  alerts: Alert[];
}

let current: AlertsState | undefined;
let lastError: unknown;
let inFlight = false;
let again = false;
const subscribers = new Set<() => void>();

function refresh(): void {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  api<AlertsState>('GET', '/api/alerts')
    .then((d) => {
      current = { breakerOpen: d.breakerOpen === true, alerts: Array.isArray(d.alerts) ? d.alerts : [] };
      lastError = undefined;
    })
    .catch((e) => (lastError = e))
    .finally(() => {
      inFlight = false;
      for (const s of subscribers) s();
      if (again) {
        again = false;
        refresh();
      }
    });
}

/** The layout calls this once: it decides when alerts are re-read. */
export function useAlertsFeed(): void {
  const live = useLive();
  const states = useMemo(() => [...live.nodes.values()].map((n) => `${n.name}:${n.state}`).join(','), [live.version]);
  const lastEvent = live.events.find((e) => e.type === 'node')?.at ?? 0;
  const key = `${live.alertStamp}|${lastEvent}|${states}`;
  useEffect(() => refresh(), [key]);
}

export function useAlerts(): { data: AlertsState | undefined; error: unknown } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const s = () => setTick((t) => t + 1);
    subscribers.add(s);
    return () => void subscribers.delete(s);
  }, []);
  return { data: current, error: lastError };
}

/** Shown on every page while the circuit breaker is open. */
export function BreakerBanner(): ComponentChild | null {
  const { data } = useAlerts();
  if (!data?.breakerOpen) return null;
  return h(
    'div',
    { class: 'banner critical', role: 'alert' },
    h('strong', null, 'Circuit breaker open: '),
    'many nodes were lost at once (likely a switch or master network fault). Automatic power cycling is paused until they are back. ',
    h('a', { href: '/alerts' }, 'Alerts'),
  );
}

export function SeverityBadge({ severity }: { severity: string }): ComponentChild {
  return h('span', { class: `badge sev-${severity.replace(/[^a-z]/g, '')}` }, severity);
}
