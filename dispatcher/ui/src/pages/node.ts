/// <reference lib="dom" />
/**
 * One node: identity, health charts (server-side heartbeat ring), running jobs with kill,
 * recent jobs, boot timeline, node events, operator actions with confirmation, slots/labels
 * editing and (admin) a shell.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Card, Chart, ConfirmButton, Empty, ErrorBox, StateBadge } from '../components.ts';
import { ago, bytes, duration, jobTitle, num, throttledFlags, time } from '../format.ts';
import { isAdmin, useLive } from '../state.ts';
import type { BootEvent, HealthSample, JobView, NodeEvent, NodeView } from '../types.ts';
import { BootDoctorPanel } from '../boot-doctor-panel.ts';
import { BootTimeline, KernelLog } from './node-boot.ts';
import { ShellPanel } from './shell.ts';

import { NodeActions, PowerJournal, PowerSummary, type PowerInfo, type PowerOp } from './node-power.ts';

function useFetch<T>(path: string, deps: unknown[]): { data: T | undefined; error: unknown; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let gone = false;
    api<T>('GET', path)
      .then((d) => !gone && (setData(d), setError(undefined)))
      .catch((e) => !gone && setError(e));
    return () => {
      gone = true;
    };
  }, [path, n, ...deps]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

export function NodePage({ name }: { name: string }): ComponentChild {
  const live = useLive();
  const admin = isAdmin();
  const node = live.nodes.get(name);
  const enc = encodeURIComponent(name);
  const [events, setEvents] = useState<NodeEvent[]>([]);
  const [boots, setBoots] = useState<BootEvent[]>([]);
  const [samples, setSamples] = useState<HealthSample[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const doneCount = node ? node.jobsDone + node.jobsFailed : 0;
  const recent = useFetch<{ jobs: JobView[] }>(`/api/jobs?node=${enc}&limit=20`, [doneCount]);
  // Power actions and reboots are journaled; each one also records a node event (or a state change).
  const lastEventAt = events[0]?.at ?? 0;
  const journal = useFetch<PowerOp[]>(`/api/power/operations?node=${enc}&limit=50`, [lastEventAt, node?.state]);
  const powerInfo = useFetch<PowerInfo>(`/api/nodes/${enc}/power`, []);

  useEffect(() => {
    let gone = false;
    Promise.all([
      api<NodeEvent[]>('GET', `/api/nodes/${enc}/events?limit=100`),
      api<BootEvent[]>('GET', `/api/boot-events?node=${enc}&limit=200`),
      api<HealthSample[]>('GET', `/api/ui/nodes/${enc}/health`),
    ])
      .then(([e, b, s]) => {
        if (gone) return;
        setEvents(e);
        setBoots(b);
        setSamples(s);
      })
      .catch((e) => !gone && setError(e));
    const off = live.onEvents((items) => {
      const mine = items.filter((i) => i.node === name);
      if (!mine.length) return;
      setEvents((prev) => [...mine.filter((i) => i.type === 'node').reverse(), ...prev].slice(0, 200) as NodeEvent[]);
      setBoots((prev) => [...mine.filter((i) => i.type === 'boot').reverse(), ...prev].slice(0, 300) as BootEvent[]);
    });
    return () => {
      gone = true;
      off();
    };
  }, [name]);

  // Heartbeats arrive as node deltas: extend the chart locally, at most one point per 5 s.
  useEffect(() => {
    if (!node?.health || node.lastSeenAt === undefined) return;
    const last = samples[samples.length - 1];
    if (last && node.lastSeenAt - last.t < 5000) return;
    const hl = node.health;
    const mem = hl.memTotalMb && hl.memAvailableMb !== undefined ? Math.round((1000 * (hl.memTotalMb - hl.memAvailableMb)) / hl.memTotalMb) / 10 : undefined;
    setSamples((prev) => [
      ...prev.slice(-359),
      { t: node.lastSeenAt!, cpuPercent: hl.cpuPercent, load1: hl.load1, memUsedPercent: mem, temperatureC: hl.temperatureC },
    ]);
  }, [node?.lastSeenAt]);

  if (!node)
    return h(
      'main',
      null,
      h('h1', null, name),
      error ? h(ErrorBox, { error }) : h(Empty, null, live.link === 'live' ? `No node named “${name}”.` : 'Loading…'),
    );

  const running = [...live.jobs.values()].filter((j) => j.node === name && j.state === 'running').sort((a, b) => a.id - b.id);
  const times = samples.map((s) => s.t / 1000);
  return h(
    'main',
    { class: 'node-page' },
    h('h1', null, name, ' ', h(StateBadge, { state: node.state })),
    node.stateReason ? h('p', { class: 'muted' }, `${node.stateReason} · since ${time(node.stateSince)}`) : null,
    h(ErrorBox, { error }),
    h(
      'div',
      { class: 'grid two' },
      h(Card, { title: 'Identity' }, h(NodeFacts, { node })),
      admin ? h(Card, { title: 'Actions' }, h(NodeActions, { node, power: powerInfo.data })) : null,
    ),
    admin ? h(ShellPanel, { node: name, connected: node.connected }) : null,
    h(
      Card,
      { title: `Running jobs (${running.length})` },
      running.length === 0
        ? h(Empty, null, 'Nothing running on this node.')
        : h(
            'table',
            { 'aria-label': 'Running jobs' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', { scope: 'col' }, 'Job'),
                h('th', { scope: 'col' }, 'Command'),
                h('th', { scope: 'col' }, 'Started'),
                admin ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')) : null,
              ),
            ),
            h(
              'tbody',
              null,
              running.map((j) =>
                h(
                  'tr',
                  { key: j.id, 'data-job': j.id },
                  h('td', null, h('a', { href: `/jobs/${j.id}` }, `#${j.id}`)),
                  h('td', { class: 'cmd' }, jobTitle(j)),
                  h('td', null, ago(j.startedAt)),
                  admin
                    ? h(
                        'td',
                        null,
                        j.cancelRequested
                          ? h('span', { class: 'muted' }, 'killing…')
                          : h(ConfirmButton, {
                              label: 'Kill',
                              danger: true,
                              question: `Kill job #${j.id} (${jobTitle(j).slice(0, 80)})? It ends cancelled.`,
                              action: () => api('DELETE', `/api/jobs/${j.id}`),
                            }),
                      )
                    : null,
                ),
              ),
            ),
          ),
    ),
    h(
      'div',
      { class: 'grid three' },
      h(Chart, {
        title: 'CPU %',
        times,
        yRange: [0, 100],
        emptyText: 'No CPU readings yet.',
        series: [{ label: 'cpu %', color: '#1c7ed6', values: samples.map((s) => s.cpuPercent ?? null) }],
        height: 150,
      }),
      h(Chart, {
        title: 'Memory used %',
        times,
        yRange: [0, 100],
        emptyText: 'No memory readings yet.',
        series: [{ label: 'mem %', color: '#7048e8', values: samples.map((s) => s.memUsedPercent ?? null) }],
        height: 150,
      }),
      h(Chart, {
        title: 'Temperature °C',
        times,
        emptyText: 'This node reports no temperature.',
        series: [{ label: '°C', color: '#e8590c', values: samples.map((s) => s.temperatureC ?? null) }],
        height: 150,
      }),
    ),
    h(
      Card,
      { title: 'Recent jobs' },
      h(ErrorBox, { error: recent.error }),
      !recent.data?.jobs.length
        ? h(Empty, null, 'No jobs ran here yet.')
        : h(
            'table',
            { 'aria-label': 'Recent jobs' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Job', 'State', 'Command', 'Finished', 'Took'].map((c) => h('th', { scope: 'col', key: c }, c)),
              ),
            ),
            h(
              'tbody',
              null,
              recent.data.jobs.map((j) =>
                h(
                  'tr',
                  { key: j.id },
                  h('td', null, h('a', { href: `/jobs/${j.id}` }, `#${j.id}`)),
                  h('td', null, h(StateBadge, { state: j.state })),
                  h('td', { class: 'cmd' }, jobTitle(j)),
                  h('td', null, time(j.finishedAt)),
                  h('td', null, j.finishedAt && j.startedAt ? duration(j.finishedAt - j.startedAt) : '—'),
                ),
              ),
            ),
          ),
    ),
    h(
      'div',
      { class: 'grid two' },
      h(Card, { title: 'Boot timeline' }, h(BootTimeline, { events: boots })),
      h(Card, { title: 'Kernel log', class: 'wide' }, h(KernelLog, { events: boots })),
      h(Card, { title: 'Node events' }, h(NodeEvents, { events })),
    ),
    h(BootDoctorPanel, { name, refresh: boots.length }),
    h(
      Card,
      { title: 'Power journal' },
      h(PowerSummary, { info: powerInfo.data }),
      h(ErrorBox, { error: journal.error }),
      h(PowerJournal, { ops: journal.data }),
    ),
  );
}
function NodeFacts({ node: n }: { node: NodeView }): ComponentChild {
  const th = throttledFlags(n.health?.throttled);
  const facts: [string, string][] = [
    ['IP', n.ip ?? '—'],
    ['MAC', n.mac ?? '—'],
    ['Serial', n.serial ?? '—'],
    ['Model', n.model ?? '—'],
    ['CPUs / memory', `${n.cpus ?? '—'} / ${n.memoryMb ? bytes(n.memoryMb * 1024 * 1024) : '—'}`],
    ['Arch', n.arch ?? '—'],
    ['Agent / image', `${n.agentVersion ?? '—'} / ${n.imageVersion ?? '—'}`],
    ['Slots (busy)', `${n.slots} (${n.running})`],
    ['Jobs done / failed', `${n.jobsDone} / ${n.jobsFailed}`],
    ['CPU time', duration(n.cpuMs)],
    ['Temperature', n.health?.temperatureC !== undefined ? `${num(n.health.temperatureC, 1)} °C` : '—'],
    ['Throttled', th.now.length ? th.now.join(', ') : th.past.length ? `earlier: ${th.past.join(', ')}` : n.health?.throttled !== undefined ? 'no' : '—'],
    ['Load (1 min)', num(n.health?.load1, 2)],
    ['Uptime', n.health?.uptimeS !== undefined ? duration(n.health.uptimeS * 1000) : '—'],
    ['Boots', String(n.boots)],
    ['Last heartbeat', `${time(n.lastSeenAt)} (${ago(n.lastSeenAt)})`],
    [
      'Labels',
      Object.entries(n.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '—',
    ],
    ['Source', n.source],
  ];
  return h(
    'dl',
    { class: 'facts' },
    facts.flatMap(([k, v]) => [h('dt', { key: `t${k}` }, k), h('dd', { key: `d${k}` }, v)]),
  );
}
function NodeEvents({ events }: { events: NodeEvent[] }): ComponentChild {
  if (!events.length) return h(Empty, null, 'No events.');
  return h(
    'ol',
    { class: 'feed' },
    events
      .slice(0, 100)
      .map((e, i) =>
        h(
          'li',
          { key: `${e.at}-${i}` },
          h('time', { dateTime: new Date(e.at).toISOString() }, time(e.at)),
          h('span', { class: 'kind' }, e.kind),
          h('span', { class: 'msg' }, `${e.from && e.to ? `${e.from} → ${e.to}: ` : ''}${e.message}`),
          h('span', { class: 'muted' }, ` (${e.actor})`),
        ),
      ),
  );
}
