/// <reference lib="dom" />
/**
 * The node page's boot doctor panel: GET /api/nodes/:name/boot-doctor (the same diagnosis
 * `picluster doctor <node>` prints): the latest attempt's verdict and last step, then each
 * matched failure with its evidence and fix. Refetched when the node's boot timeline grows.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { BootDiagnosis } from '../../../doctor/boot/schema.ts';
import { api } from './api.ts';
import { Card, Empty, ErrorBox } from './components.ts';
import { ago } from './format.ts';

const VERDICT_CLASS: Record<BootDiagnosis['verdict'], string> = { booted: 's-online', booting: 's-booting', failed: 's-failed', 'no-data': 's-offline' };
const SEVERITY_CLASS = { fail: 'sev-error', warn: 'sev-warn', info: 's-offline' } as const;

/** Pure: the one-line headline of a diagnosis. */
export function doctorHeadline(d: BootDiagnosis): string {
  const took = d.bootMs !== undefined ? ` in ${(d.bootMs / 1000).toFixed(1)} s` : '';
  const step = d.lastStep ? `; last step: ${d.lastStep}` : '';
  return `${d.verdict}${took}${step}`;
}

export function BootDoctorPanel({ name, refresh }: { name: string; refresh: unknown }): ComponentChild {
  const [d, setD] = useState<BootDiagnosis | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let gone = false;
    api<BootDiagnosis>('GET', `/api/nodes/${encodeURIComponent(name)}/boot-doctor`)
      .then((x) => !gone && (setD(x), setError(undefined)))
      .catch((e) => !gone && setError(e));
    return () => {
      gone = true;
    };
  }, [name, refresh]);
  return h(
    Card,
    { title: 'Boot doctor', class: 'boot-doctor' },
    error ? h(ErrorBox, { error }) : null,
    !d
      ? h(Empty, null, 'Asking the boot doctor…')
      : h(
          'div',
          null,
          h(
            'p',
            null,
            h('span', { class: `badge ${VERDICT_CLASS[d.verdict]}` }, d.verdict),
            ' ',
            doctorHeadline(d).slice(d.verdict.length).replace(/^; /, ''),
            d.lastStepAt ? h('span', { class: 'muted' }, ` (${ago(d.lastStepAt)})`) : null,
          ),
          d.findings.length
            ? h(
                'ul',
                { class: 'feed' },
                d.findings.map((f) =>
                  h(
                    'li',
                    { key: f.id },
                    h('span', { class: `badge ${SEVERITY_CLASS[f.severity]}` }, f.severity),
                    ' ',
                    h('strong', null, f.title),
                    h('span', { class: 'muted' }, ` ${f.id} · ${f.ref}`),
                    h('div', { class: 'small' }, 'Seen: ', f.evidence),
                    h('div', { class: 'small' }, 'Fix: ', f.fix),
                  ),
                ),
              )
            : h(Empty, null, d.verdict === 'booted' ? 'No known failure matches the latest boot.' : 'No known failure matches (yet).'),
        ),
  );
}
