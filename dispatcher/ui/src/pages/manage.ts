/// <reference lib="dom" />
/**
 * Manage (admin): add a node, approve or reject the nodes netboot saw (pending approval), bulk
 * actions on selected nodes with one confirmation, and a rolling reboot (what `picluster
 * rollout` does) with its progress. Viewers see the pending list and no actions.
 */
import { h, type ComponentChild, type ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, errorText } from '../api.ts';
import { Card, ConfirmButton, Empty, ErrorBox, StateBadge } from '../components.ts';
import { ago, time } from '../format.ts';
import { rollingReboot, rolloutProblems, type StepState } from '../rollout.ts';
import { isAdmin, liveStore, useLive } from '../state.ts';
import type { NodeView } from '../types.ts';

const enc = encodeURIComponent;

/** `key=value` lines → labels; throws on a malformed line. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const line of text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    const i = line.indexOf('=');
    if (i <= 0) throw new Error(`label “${line}” is not key=value`);
    labels[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return labels;
}

function parseSlots(text: string): number | undefined {
  if (!text.trim()) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 1024) throw new Error(`slots must be a whole number from 0 to 1024, not “${text}”`);
  return n;
}

function Field({ id, label, children, wide }: { id: string; label: string; children?: ComponentChildren; wide?: boolean }): ComponentChild {
  return h('div', { class: `field${wide ? ' wide' : ''}` }, h('label', { for: id }, label), children);
}

const input = (id: string, value: string, set: (v: string) => void, extra: Record<string, unknown> = {}) =>
  h('input', { id, value, onInput: (e: Event) => set((e.target as HTMLInputElement).value), ...extra });

function AddNodeForm(): ComponentChild {
  const [name, setName] = useState('');
  const [mac, setMac] = useState('');
  const [serial, setSerial] = useState('');
  const [model, setModel] = useState('');
  const [slots, setSlots] = useState('');
  const [labels, setLabels] = useState('');
  const [power, setPower] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [added, setAdded] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setAdded('');
    try {
      const body: Record<string, unknown> = { name: name.trim() };
      if (mac.trim()) body.mac = mac.trim();
      if (serial.trim()) body.serial = serial.trim();
      if (model.trim()) body.model = model.trim();
      const s = parseSlots(slots);
      if (s !== undefined) body.slots = s;
      const l = parseLabels(labels);
      if (Object.keys(l).length) body.labels = l;
      if (power.trim()) {
        let p: unknown;
        try {
          p = JSON.parse(power);
        } catch (err) {
          throw new Error(`power is not JSON: ${(err as Error).message}`, { cause: err });
        }
        if (!p || typeof p !== 'object' || Array.isArray(p) || typeof (p as { driver?: unknown }).driver !== 'string')
          throw new Error('power must be a JSON object with a "driver", e.g. {"driver": "command", "cycle": "…"}');
        body.power = p;
      }
      setBusy(true);
      const view = await api<NodeView>('POST', '/api/nodes', body);
      setAdded(view.name);
      setName('');
      setMac('');
      setSerial('');
      setModel('');
      setSlots('');
      setLabels('');
      setPower('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return h(
    'form',
    { onSubmit: submit, 'aria-label': 'Add a node' },
    h(
      'div',
      { class: 'fields' },
      h(
        Field,
        { id: 'add-name', label: 'Name' },
        input('add-name', name, setName, { required: true, pattern: '[A-Za-z0-9][A-Za-z0-9.\\-_]{0,62}', placeholder: 'pi-05', autocomplete: 'off' }),
      ),
      h(Field, { id: 'add-mac', label: 'MAC' }, input('add-mac', mac, setMac, { placeholder: 'dc:a6:32:01:02:03', autocomplete: 'off' })),
      h(Field, { id: 'add-serial', label: 'Serial' }, input('add-serial', serial, setSerial, { placeholder: '1a2b3c4d', autocomplete: 'off' })),
      h(Field, { id: 'add-model', label: 'Model' }, input('add-model', model, setModel, { placeholder: 'pi4', maxLength: 32 })),
      h(Field, { id: 'add-slots', label: 'Slots (empty: its CPUs)' }, input('add-slots', slots, setSlots, { type: 'number', min: 0, max: 1024 })),
      h(
        Field,
        { id: 'add-labels', label: 'Labels (key=value, one per line)', wide: true },
        h('textarea', { id: 'add-labels', rows: 2, value: labels, onInput: (e: Event) => setLabels((e.target as HTMLTextAreaElement).value) }),
      ),
      h(
        Field,
        { id: 'add-power', label: 'Power (JSON with a driver; optional)', wide: true },
        h('textarea', {
          id: 'add-power',
          rows: 3,
          value: power,
          placeholder: '{"driver": "poe-snmp", "host": "10.0.0.2", "port": 5, "community": "private"}',
          onInput: (e: Event) => setPower((e.target as HTMLTextAreaElement).value),
        }),
      ),
    ),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'submit', class: 'primary', disabled: busy }, 'Add node'),
      added ? h('span', { class: 'ok inline', role: 'status' }, 'Added ', h('a', { href: `/nodes/${enc(added)}` }, added)) : null,
    ),
    h(ErrorBox, { error }),
  );
}

function ApproveForm({ pending, onDone }: { pending: NodeView; onDone: () => void }): ComponentChild {
  const [name, setName] = useState('');
  const [slots, setSlots] = useState('');
  const [labels, setLabels] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      const body: Record<string, unknown> = { name: name.trim(), approve: pending.name };
      const s = parseSlots(slots);
      if (s !== undefined) body.slots = s;
      const l = parseLabels(labels);
      if (Object.keys(l).length) body.labels = l;
      setBusy(true);
      await api('POST', '/api/nodes', body);
      onDone();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return h(
    'form',
    { onSubmit: submit, class: 'approve', 'aria-label': `Approve ${pending.name}` },
    h(
      'p',
      null,
      `Approve ${pending.name}${pending.mac ? ` (MAC ${pending.mac}${pending.serial ? `, serial ${pending.serial}` : ''})` : ''}: netboot will boot it under this name.`,
    ),
    h(
      'div',
      { class: 'fields' },
      h(
        Field,
        { id: 'approve-name', label: 'Node name' },
        h('input', {
          id: 'approve-name',
          ref: first,
          value: name,
          required: true,
          pattern: '[A-Za-z0-9][A-Za-z0-9.\\-_]{0,62}',
          autocomplete: 'off',
          onInput: (e: Event) => setName((e.target as HTMLInputElement).value),
        }),
      ),
      h(Field, { id: 'approve-slots', label: 'Slots (empty: its CPUs)' }, input('approve-slots', slots, setSlots, { type: 'number', min: 0, max: 1024 })),
      h(
        Field,
        { id: 'approve-labels', label: 'Labels (key=value, one per line)', wide: true },
        h('textarea', { id: 'approve-labels', rows: 2, value: labels, onInput: (e: Event) => setLabels((e.target as HTMLTextAreaElement).value) }),
      ),
    ),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'submit', class: 'primary', disabled: busy }, 'Approve node'),
      h('button', { type: 'button', onClick: onDone }, 'Cancel'),
    ),
    h(ErrorBox, { error }),
  );
}

function PendingNodes({ pending, admin }: { pending: NodeView[]; admin: boolean }): ComponentChild {
  const [approving, setApproving] = useState<string | undefined>(undefined);
  const target = approving ? pending.find((p) => p.name === approving) : undefined;
  return h(
    Card,
    { title: `Pending approval (${pending.length})` },
    pending.length === 0
      ? h(Empty, null, 'No node is waiting. With netboot enrollment on, unknown PXE clients appear here.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { 'aria-label': 'Pending nodes' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Pending name', 'MAC', 'Serial', 'Seen', 'What netboot saw'].map((c) => h('th', { scope: 'col', key: c }, c)),
                admin ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')) : null,
              ),
            ),
            h(
              'tbody',
              null,
              pending.map((p) =>
                h(
                  'tr',
                  { key: p.name, 'data-pending': p.name },
                  h('th', { scope: 'row' }, p.name),
                  h('td', null, p.mac ?? '—'),
                  h('td', null, p.serial ?? '—'),
                  h('td', { title: time(p.stateSince) }, ago(p.stateSince)),
                  h('td', null, p.stateReason ?? ''),
                  admin
                    ? h(
                        'td',
                        { class: 'row' },
                        h('button', { type: 'button', class: 'primary', onClick: () => setApproving(p.name), 'aria-label': `Approve ${p.name}` }, 'Approve'),
                        h(ConfirmButton, {
                          label: 'Reject',
                          danger: true,
                          question: `Reject ${p.name}? It is forgotten; netboot records it again if it keeps asking.`,
                          action: () => api('DELETE', `/api/nodes/${enc(p.name)}`),
                        }),
                      )
                    : null,
                ),
              ),
            ),
          ),
        ),
    admin && target ? h(ApproveForm, { key: target.name, pending: target, onDone: () => setApproving(undefined) }) : null,
  );
}

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

function BulkActions({ nodes }: { nodes: NodeView[] }): ComponentChild {
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

export function ManagePage(): ComponentChild {
  const live = useLive();
  const admin = isAdmin();
  const all = useMemo(() => [...live.nodes.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })), [live.version]);
  const pending = all.filter((n) => n.state === 'pending-approval');
  const members = all.filter((n) => n.state !== 'pending-approval');
  return h(
    'main',
    { class: 'manage' },
    h('h1', null, 'Manage'),
    admin ? null : h('p', { class: 'notice' }, 'Signed in as a viewer: adding, approving and bulk actions need the admin token.'),
    h(PendingNodes, { pending, admin }),
    admin ? h(Card, { title: 'Add a node' }, h(AddNodeForm, null)) : null,
    admin ? h(BulkActions, { nodes: members }) : null,
  );
}
