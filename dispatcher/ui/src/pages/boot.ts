/// <reference lib="dom" />
/**
 * The cluster-wide Boot page: who is in which boot step, how long each step took, failures
 * first — live from the boot events (netboot's DHCP/TFTP/HTTP, the agents' kernel and /init
 * milestones, the hellos). What an operator watches while a rack comes back after a power cut.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { bootRows, type BootRow } from '../boot-activity.ts';
import { Card, Empty, ErrorBox } from '../components.ts';
import { ago, duration, time } from '../format.ts';
import { useLive } from '../state.ts';
import type { BootEvent } from '../types.ts';

const STATUS_TEXT: Record<BootRow['status'], string> = { failed: 'failed', booting: 'booting', up: 'agent up' };

export function BootPage(): ComponentChild {
  const live = useLive();
  const [events, setEvents] = useState<BootEvent[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let gone = false;
    api<BootEvent[]>('GET', '/api/boot-events?limit=1000')
      .then((e) => !gone && setEvents((prev) => [...(prev ?? []), ...e]))
      .catch((e) => !gone && setError(e));
    const off = live.onEvents((items) => {
      const boots = items.filter((i) => i.type === 'boot') as BootEvent[];
      if (boots.length) setEvents((prev) => [...(prev ?? []), ...boots].slice(-5000));
    });
    return () => {
      gone = true;
      off();
    };
  }, []);
  const rows = events ? bootRows(events) : [];
  const count = (s: BootRow['status']) => rows.filter((r) => r.status === s).length;
  return h(
    'main',
    null,
    h('h1', null, 'Boot'),
    h(ErrorBox, { error }),
    h(
      Card,
      { title: `Boot activity (${count('failed')} failed, ${count('booting')} booting, ${count('up')} up)` },
      events === undefined
        ? h(Empty, null, error ? 'Boot events could not be read.' : 'Loading…')
        : rows.length === 0
          ? h(Empty, null, 'No boot activity yet: netboot records DHCP and TFTP, agents their kernel and /init milestones.')
          : h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { class: 'boots' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    ['Node', 'Status', 'Step', 'Started', 'Elapsed', 'Steps'].map((t) => h('th', { key: t, scope: 'col' }, t)),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  rows.map((r) =>
                    h(
                      'tr',
                      { key: r.node, class: `boot-${r.status}`, 'data-node': r.node },
                      h('td', null, r.node.startsWith('unknown ') ? r.node : h('a', { href: `/nodes/${encodeURIComponent(r.node)}` }, r.node)),
                      h(
                        'td',
                        null,
                        h('span', { class: `badge boot-${r.status}` }, STATUS_TEXT[r.status]),
                        r.failure ? h('div', { class: 'small bad' }, r.failure) : null,
                      ),
                      h('td', { class: 'step' }, r.current),
                      h('td', null, h('time', { dateTime: new Date(r.startedAt).toISOString(), title: time(r.startedAt) }, ago(r.startedAt))),
                      h('td', null, duration(r.lastAt - r.startedAt)),
                      h(
                        'td',
                        null,
                        h(
                          'ol',
                          { class: 'steps' },
                          r.steps.map((s, i) =>
                            h(
                              'li',
                              { key: i, class: s.bad ? 'bad' : undefined, title: time(s.at) },
                              s.label,
                              s.durationMs !== undefined ? h('span', { class: 'muted' }, ` ${duration(s.durationMs)}`) : null,
                            ),
                          ),
                        ),
                      ),
                    ),
                  ),
                ),
              ),
            ),
    ),
  );
}
