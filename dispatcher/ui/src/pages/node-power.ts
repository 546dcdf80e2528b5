/// <reference lib="dom" />
/**
 * The node page's power and operator parts: the power driver summary, the power journal, and the
 * operator actions (reboot, power, drain, maintenance…) with their confirmations.
 */
import { h, type ComponentChild } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ConfirmButton, Empty, ErrorBox, StateBadge } from '../components.ts';
import { duration, time } from '../format.ts';
import type { NodeView } from '../types.ts';

const POWER_ACTIONS = new Set(['power-cycle', 'power-off', 'power-on']);
const ACTIONS: { action: string; label: string; question: string; danger?: boolean; body?: Record<string, unknown> }[] = [
  {
    action: 'reboot',
    label: 'Reboot',
    question: 'Reboot this node through its agent? Running jobs are stopped and requeued as the agent shuts down.',
    danger: true,
  },
  { action: 'power-cycle', label: 'Power cycle', question: 'Cut and restore power to this node? Running jobs are lost and requeued.', danger: true },
  { action: 'power-off', label: 'Power off', question: 'Turn this node off? Running jobs are requeued.', danger: true },
  { action: 'power-on', label: 'Power on', question: 'Turn this node on?' },
  { action: 'drain', label: 'Drain', question: 'Drain this node: finish running jobs, take no new ones?' },
  { action: 'undrain', label: 'Undrain', question: 'Let this node take jobs again?' },
  { action: 'maintenance', label: 'Maintenance', question: 'Put this node in maintenance (no jobs, no automatic recovery)?', body: { on: true } },
  { action: 'identify', label: 'Identify', question: 'Blink this node’s activity LED for 30 s?' },
];

export interface PowerInfo {
  power: ({ driver: string } & Record<string, unknown>) | null;
  canPowerCycle: boolean;
}

export interface PowerOp {
  id: number;
  node: string;
  driver: string;
  action: string;
  state: string;
  actor: string;
  requestedAt: number;
  completedAt?: number;
  verified?: boolean;
  detail?: string;
}
export function PowerSummary({ info }: { info: PowerInfo | undefined }): ComponentChild {
  if (!info) return null;
  if (!info.power)
    return h(
      'p',
      { class: 'muted' },
      'No power driver configured: power on/off/cycle are refused, and automatic recovery can only ask the agent to reboot. Add power: { driver: … } to the node in the inventory.',
    );
  const settings = Object.entries(info.power)
    .filter(([k]) => k !== 'driver')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(', ');
  return h(
    'p',
    null,
    h('strong', null, `Driver: ${info.power.driver}`),
    settings ? h('span', { class: 'muted' }, ` (${settings})`) : null,
    info.canPowerCycle ? '' : h('span', { class: 'muted' }, ' · automatic recovery cannot power-cycle it'),
  );
}

export function PowerJournal({ ops }: { ops: PowerOp[] | undefined }): ComponentChild {
  if (ops === undefined) return h(Empty, null, 'Loading…');
  if (!ops.length) return h(Empty, null, 'No power actions or reboots recorded for this node.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { 'aria-label': 'Power journal' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Requested', 'Action', 'Driver', 'State', 'Verified', 'By', 'Took', 'Detail'].map((c) => h('th', { scope: 'col', key: c }, c)),
        ),
      ),
      h(
        'tbody',
        null,
        ops.map((o) =>
          h(
            'tr',
            { key: o.id, 'data-op': o.id },
            h('td', null, time(o.requestedAt)),
            h('td', null, o.action),
            h('td', null, o.driver),
            h('td', null, h(StateBadge, { state: o.state })),
            h('td', null, o.state === 'pending' ? '—' : o.verified ? 'yes' : 'no'),
            h('td', null, o.actor),
            h('td', null, o.completedAt !== undefined ? duration(o.completedAt - o.requestedAt) : '—'),
            h('td', { class: 'wrap' }, o.detail ?? ''),
          ),
        ),
      ),
    ),
  );
}
export function NodeActions({ node, power }: { node: NodeView; power: PowerInfo | undefined }): ComponentChild {
  const enc = encodeURIComponent(node.name);
  const [slots, setSlots] = useState(String(node.slots));
  const [labels, setLabels] = useState(
    Object.entries(node.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  );
  const [saveError, setSaveError] = useState<unknown>(undefined);
  const [saved, setSaved] = useState(false);
  const save = async (e: Event) => {
    e.preventDefault();
    setSaveError(undefined);
    setSaved(false);
    try {
      const parsed: Record<string, string> = {};
      for (const line of labels
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)) {
        const i = line.indexOf('=');
        if (i <= 0) throw new Error(`label “${line}” is not key=value`);
        parsed[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      await api('PATCH', `/api/nodes/${enc}`, { slots: Number(slots), labels: parsed });
      setSaved(true);
    } catch (err) {
      setSaveError(err);
    }
  };
  return h(
    'div',
    null,
    h(
      'div',
      { class: 'actions' },
      ACTIONS.map((a) => {
        if (a.action === 'maintenance' && node.state === 'maintenance')
          return h(ConfirmButton, {
            key: 'maintenance-off',
            label: 'End maintenance',
            question: `${node.name}: end maintenance and let it take jobs again?`,
            action: () => api('POST', `/api/nodes/${enc}/maintenance`, { on: false }),
          });
        const noDriver = POWER_ACTIONS.has(a.action) && power !== undefined && power.power === null;
        return h(ConfirmButton, {
          key: a.action,
          label: a.label,
          question: `${node.name}: ${a.question}${noDriver ? ' (It has no power driver configured: the master will refuse.)' : ''}`,
          danger: a.danger,
          ...(noDriver ? { title: 'no power driver configured for this node' } : {}),
          action: () => api('POST', `/api/nodes/${enc}/${a.action}`, a.body ?? {}),
        });
      }),
    ),
    power && !power.power ? h('p', { class: 'muted small' }, 'No power driver: power on, off and cycle will be refused.') : null,
    h(
      'form',
      { class: 'edit', onSubmit: save, 'aria-label': 'Edit slots and labels' },
      h('label', { for: 'slots' }, 'Slots'),
      h('input', { id: 'slots', type: 'number', min: 0, max: 1024, value: slots, onInput: (e: Event) => setSlots((e.target as HTMLInputElement).value) }),
      h('label', { for: 'labels' }, 'Labels (key=value, one per line)'),
      h('textarea', { id: 'labels', rows: 3, value: labels, onInput: (e: Event) => setLabels((e.target as HTMLTextAreaElement).value) }),
      h('button', { type: 'submit' }, 'Save'),
      saved ? h('span', { class: 'ok inline', role: 'status' }, 'Saved') : null,
      h(ErrorBox, { error: saveError }),
    ),
  );
}
