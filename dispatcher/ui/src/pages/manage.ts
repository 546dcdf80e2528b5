/// <reference lib="dom" />
/**
 * Manage (admin): add a node, approve or reject the nodes netboot saw (pending approval), bulk
 * actions on selected nodes with one confirmation, and a rolling reboot (what `picluster
 * rollout` does) with its progress. Viewers see the pending list and no actions.
 */
import { h, type ComponentChild } from 'preact';
import { useMemo } from 'preact/hooks';
import { Card } from '../components.ts';
import { isAdmin, useLive } from '../state.ts';
import { BulkActions } from './manage-bulk.ts';
import { AddNodeForm, PendingNodes } from './manage-forms.ts';

export { parseLabels } from './manage-forms.ts';

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
