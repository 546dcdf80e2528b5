/// <reference lib="dom" />
/**
 * Manage page, the forms: add a node (name, MAC, serial, power, labels, slots) and approve or
 * reject the nodes netboot saw (pending approval). Viewers see the pending list and no actions.
 */
import { h, type ComponentChild, type ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Card, ConfirmButton, Empty, ErrorBox } from '../components.ts';
import { ago, time } from '../format.ts';
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

export function Field({ id, label, children, wide }: { id: string; label: string; children?: ComponentChildren; wide?: boolean }): ComponentChild {
  return h('div', { class: `field${wide ? ' wide' : ''}` }, h('label', { for: id }, label), children);
}

export const input = (id: string, value: string, set: (v: string) => void, extra: Record<string, unknown> = {}) =>
  h('input', { id, value, onInput: (e: Event) => set((e.target as HTMLInputElement).value), ...extra });

export function AddNodeForm(): ComponentChild {
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

export function PendingNodes({ pending, admin }: { pending: NodeView[]; admin: boolean }): ComponentChild {
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
