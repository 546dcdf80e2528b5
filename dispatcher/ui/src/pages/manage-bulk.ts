/// <reference lib="dom" />
/**
 * Manage page, the bulk part: actions on selected nodes with one confirmation, and a rolling
 * reboot (what `picluster rollout` does) with its progress.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText } from '../api.ts';
import { Card, ConfirmButton, Empty, StateBadge } from '../components.ts';
import { rollingReboot, rolloutProblems, type StepState } from '../rollout.ts';
import { liveStore } from '../state.ts';
import type { NodeView } from '../types.ts';
import { Field, input } from './manage-forms.ts';

const enc = encodeURIComponent;

type Bulk = 'drain' | 'undrain' | 'reboot' | 'maintenance-on' | 'maintenance-off' | 'remove';
const BULK: { k: Bulk; label: string; verb: string; danger?: boolean }[] = [
  { k: 'drain', label: 'Drain', verb: 'Drain (finish running jobs, take no new ones)' },
  { k: 'undrain', label: 'Undrain', verb: 'Let take jobs again' },
  { k: 'reboot', label: 'Reboot', verb: 'Reboot through their agents (running jobs are requeued)', danger: true },
  { k: 'maintenance-on', label: 'Maintenance on', verb: 'Put in maintenance (no jobs, no automatic recovery)' },
  { k: 'maintenance-off', label: 'Maintenance off', verb: 'End maintenance for' },
  { k: 'remove', label: 'Remove', verb: 'Remove from the cluster (running jobs are requeued)', danger: true },
];

function runBulk(k: Bulk, name: string): Promise<unknown> {
  const n = enc(name);
  switch (k) {
    case 'drain':
    case 'undrain':
    case 'reboot':
      return api('POST', `/api/nodes/${n}/${k}`, {});
    case 'maintenance-on':
      return api('POST', `/api/nodes/${n}/maintenance`, { on: true });
    case 'maintenance-off':
      return api('POST', `/api/nodes/${n}/maintenance`, { on: false });
    case 'remove':
      return api('DELETE', `/api/nodes/${n}`);
  }
}

interface RolloutRow {
  name: string;
  state: StepState;
  detail?: string;
}

function RollingReboot({ selected, onRunning }: { selected: string[]; onRunning: (running: boolean) => void }): ComponentChild {
  const [batch, setBatch] = useState('1');
  const [drainS, setDrainS] = useState('600');
  const [bootS, setBootS] = useState('300');
  const [image, setImage] = useState('');
  const [rows, setRows] = useState<RolloutRow[]>([]);
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const [running, setRunning] = useState(false);
  const abort = useRef<AbortController | undefined>(undefined);
  useEffect(() => () => abort.current?.abort(), []);
  const start = async () => {
    const store = liveStore()!;
    const names = [...selected];
    const problems = rolloutProblems(names, (n) => store.nodes.get(n));
    if (problems.length) throw new Error(`cannot start: ${problems.join('; ')}`);
    const ctl = new AbortController();
    abort.current = ctl;
    setRunning(true);
    onRunning(true);
    setResult(undefined);
    const state = new Map<string, RolloutRow>(names.map((n) => [n, { name: n, state: 'waiting' }]));
    setRows([...state.values()]);
    try {
      const r = await rollingReboot(
        names,
        {
          batch: Number(batch) || 1,
          drainTimeoutMs: Number(drainS) * 1000,
          bootTimeoutMs: Number(bootS) * 1000,
          ...(image.trim() ? { imageVersion: image.trim() } : {}),
          signal: ctl.signal,
        },
        {
          action: (n, a) => api('POST', `/api/nodes/${enc(n)}/${a}`, {}),
          node: (n) => store.nodes.get(n),
          until: (n, pred, timeoutMs, what, signal) =>
            new Promise<NodeView>((resolve, reject) => {
              let off = () => {};
              const finish = () => {
                off();
                clearTimeout(timer);
                signal?.removeEventListener('abort', onAbort);
              };
              const check = () => {
                const x = store.nodes.get(n);
                if (pred(x)) {
                  finish();
                  resolve(x!);
                }
              };
              const onAbort = () => (finish(), reject(new Error('stopped by the operator')));
              const timer = setTimeout(() => (finish(), reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`))), timeoutMs);
              if (signal?.aborted) return onAbort();
              signal?.addEventListener('abort', onAbort);
              off = store.onApply(check);
              check();
            }),
        },
        (n, s, detail) => {
          state.set(n, { name: n, state: s, ...(detail ? { detail } : {}) });
          setRows([...state.values()]);
        },
      );
      setResult(
        r.ok
          ? { ok: true, text: `Rolling reboot complete: ${names.length} node(s).` }
          : { ok: false, text: `Rolling reboot stopped at ${r.failedAt}: ${r.error}` },
      );
    } catch (e) {
      setResult({ ok: false, text: `Rolling reboot failed: ${errorText(e)}` });
    } finally {
      setRunning(false);
      onRunning(false);
      abort.current = undefined;
    }
  };
  return h(
    'div',
    { class: 'rollout' },
    h('h3', null, 'Rolling reboot'),
    h(
      'div',
      { class: 'fields' },
      h(Field, { id: 'ro-batch', label: 'Batch size' }, input('ro-batch', batch, setBatch, { type: 'number', min: 1, max: 100, disabled: running })),
      h(Field, { id: 'ro-drain', label: 'Drain timeout (s)' }, input('ro-drain', drainS, setDrainS, { type: 'number', min: 1, disabled: running })),
      h(Field, { id: 'ro-boot', label: 'Boot timeout (s)' }, input('ro-boot', bootS, setBootS, { type: 'number', min: 1, disabled: running })),
      h(Field, { id: 'ro-image', label: 'Expected image version (optional)' }, input('ro-image', image, setImage, { disabled: running, autocomplete: 'off' })),
    ),
    h(
      'div',
      { class: 'row' },
      running
        ? h('button', { type: 'button', class: 'danger', onClick: () => abort.current?.abort() }, 'Stop rolling reboot')
        : h(ConfirmButton, {
            label: 'Rolling reboot',
            danger: true,
            question: `Rolling reboot of ${selected.length} node(s) (${selected.join(', ')}), ${Number(batch) || 1} at a time: drain, wait for running jobs, reboot, wait for a new boot id, undrain. It stops at the first node that does not come back. Keep this tab open.`,
            action: start,
          }),
      selected.length === 0 ? h('span', { class: 'muted small' }, 'Select nodes above.') : null,
    ),
    rows.length
      ? h(
          'ol',
          { class: 'progress', 'aria-label': 'Rolling reboot progress' },
          rows.map((r) =>
            h(
              'li',
              { key: r.name, 'data-node': r.name, class: `p-${r.state.replace(/\s/g, '-')}` },
              h('strong', null, r.name),
              ' ',
              h('span', { class: 'step' }, r.state),
              r.detail ? h('span', { class: 'muted' }, ` — ${r.detail}`) : null,
            ),
          ),
        )
      : null,
    result ? h('p', { class: result.ok ? 'ok' : 'error', role: result.ok ? 'status' : 'alert' }, result.text) : null,
  );
}

export function BulkActions({ nodes }: { nodes: NodeView[] }): ComponentChild {
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [filter, setFilter] = useState('');
  const [results, setResults] = useState<{ action: string; lines: { name: string; ok: boolean; text: string }[] } | undefined>(undefined);
  const [rolling, setRolling] = useState(false);
  const names = new Set(nodes.map((n) => n.name));
  // Nodes that left the cluster leave the selection.
  const sel = [...selected].filter((n) => names.has(n)).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const shown = nodes.filter(
    (n) =>
      !filter ||
      `${n.name} ${n.state} ${Object.entries(n.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`
        .toLowerCase()
        .includes(filter.toLowerCase()),
  );
  const toggle = (name: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(name);
    else next.delete(name);
    setSelected(next);
  };
  const allShown = shown.length > 0 && shown.every((n) => selected.has(n.name));
  const bulk = (b: (typeof BULK)[number]) => async () => {
    const targets = [...sel];
    const settled = await Promise.allSettled(targets.map((n) => runBulk(b.k, n)));
    const lines = settled.map((r, i) => ({ name: targets[i]!, ok: r.status === 'fulfilled', text: r.status === 'fulfilled' ? 'done' : errorText(r.reason) }));
    setResults({ action: b.label, lines });
    const failed = lines.filter((l) => !l.ok).length;
    if (failed) throw new Error(`${failed} of ${targets.length} failed (see below)`);
  };
  return h(
    Card,
    { title: `Nodes (${sel.length} selected)` },
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'manage-filter', class: 'sr-only' }, 'Filter nodes to select'),
      h('input', {
        id: 'manage-filter',
        type: 'search',
        placeholder: 'Filter: name, state, label…',
        value: filter,
        onInput: (e: Event) => setFilter((e.target as HTMLInputElement).value),
      }),
      h('button', { type: 'button', onClick: () => setSelected(new Set()), disabled: sel.length === 0 }, 'Clear selection'),
    ),
    nodes.length === 0
      ? h(Empty, null, 'No nodes yet.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { 'aria-label': 'Manage nodes' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h(
                  'th',
                  { scope: 'col' },
                  h('input', {
                    type: 'checkbox',
                    'aria-label': 'Select all shown',
                    checked: allShown,
                    onChange: (e: Event) => {
                      const on = (e.target as HTMLInputElement).checked;
                      const next = new Set(selected);
                      for (const n of shown) {
                        if (on) next.add(n.name);
                        else next.delete(n.name);
                      }
                      setSelected(next);
                    },
                  }),
                ),
                ['Name', 'State', 'Agent', 'Busy / slots', 'Boot id', 'Image'].map((c) => h('th', { scope: 'col', key: c }, c)),
              ),
            ),
            h(
              'tbody',
              null,
              shown.map((n) =>
                h(
                  'tr',
                  { key: n.name, 'data-node': n.name },
                  h(
                    'td',
                    null,
                    h('input', {
                      type: 'checkbox',
                      'aria-label': `Select ${n.name}`,
                      checked: selected.has(n.name),
                      onChange: (e: Event) => toggle(n.name, (e.target as HTMLInputElement).checked),
                    }),
                  ),
                  h('th', { scope: 'row' }, h('a', { href: `/nodes/${enc(n.name)}` }, n.name)),
                  h('td', { 'data-col': 'state' }, h(StateBadge, { state: n.state })),
                  h('td', null, n.connected ? 'connected' : 'not connected'),
                  h('td', null, `${n.running} / ${n.slots}`),
                  h('td', null, h('code', null, n.bootId ? n.bootId.slice(0, 8) : '—')),
                  h('td', null, n.imageVersion ?? '—'),
                ),
              ),
            ),
          ),
        ),
    h(
      'div',
      { class: 'actions bulk', role: 'group', 'aria-label': 'Bulk actions' },
      BULK.map((b) =>
        h(ConfirmButton, {
          key: b.k,
          label: b.label,
          danger: b.danger,
          disabled: sel.length === 0 || rolling,
          question: `${b.verb} ${sel.length} node(s): ${sel.join(', ')}?`,
          action: bulk(b),
        }),
      ),
    ),
    results
      ? h(
          'ul',
          { class: 'results', 'aria-label': `${results.action} results` },
          results.lines.map((l) => h('li', { key: l.name, class: l.ok ? 'ok' : 'error' }, h('strong', null, l.name), `: ${l.text}`)),
        )
      : null,
    h(RollingReboot, { selected: sel, onRunning: setRolling }),
  );
}
