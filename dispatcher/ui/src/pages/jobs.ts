/// <reference lib="dom" />
/** Jobs: the submit form (admin) and the list with filters and paging, patched live. */
import { h, type ComponentChild } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Card, Empty, ErrorBox, Pager, StateBadge } from '../components.ts';
import { ago, duration, jobTitle } from '../format.ts';
import { navigate } from '../router.ts';
import { isAdmin, useLive } from '../state.ts';
import type { JobView } from '../types.ts';

const PAGE = 50;
const STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export function JobsPage({ query }: { query: URLSearchParams }): ComponentChild {
  const live = useLive();
  const state = query.get('state') ?? '';
  const group = query.get('group') ?? '';
  const node = query.get('node') ?? '';
  const offset = Number(query.get('offset') ?? 0) || 0;
  const [list, setList] = useState<{ total: number; jobs: JobView[] } | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [reload, setReload] = useState(0);
  const setQuery = (patch: Record<string, string | number>) => {
    const q = new URLSearchParams({ state, group, node, offset: String(offset) });
    for (const [k, v] of Object.entries(patch)) q.set(k, String(v));
    if (!('offset' in patch)) q.set('offset', '0');
    for (const [k, v] of [...q.entries()]) if (!v || (k === 'offset' && v === '0')) q.delete(k);
    const s = q.toString();
    navigate(`/jobs${s ? `?${s}` : ''}`, true);
  };
  useEffect(() => {
    let gone = false;
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (state) q.set('state', state);
    if (group) q.set('group', group);
    if (node) q.set('node', node);
    api<{ total: number; jobs: JobView[] }>('GET', `/api/jobs?${q}`)
      .then((r) => !gone && (setList(r), setError(undefined)))
      .catch((e) => !gone && setError(e));
    return () => {
      gone = true;
    };
  }, [state, group, node, offset, reload]);

  // Live: rows on this page take the newest version from the store; new jobs that match the
  // filters appear at the top of the first page.
  let rows = list?.jobs.map((j) => live.jobs.get(j.id) ?? j) ?? [];
  let total = list?.total ?? 0;
  if (list && offset === 0) {
    const maxId = list.jobs.reduce((m, j) => Math.max(m, j.id), 0);
    const fresh = [...live.jobs.values()].filter((j) => j.id > maxId && (!group || j.group === group) && (!node || j.node === node));
    total += fresh.length;
    rows = [...fresh.sort((a, b) => b.id - a.id), ...rows].slice(0, PAGE);
  }
  if (state) rows = rows.filter((j) => j.state === state || list?.jobs.some((x) => x.id === j.id));

  return h(
    'main',
    null,
    h('h1', null, 'Jobs'),
    isAdmin() ? h(SubmitForm, { onSubmitted: () => setReload((n) => n + 1) }) : null,
    h(
      Card,
      { title: 'Job list' },
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'job-state' }, 'State'),
        h(
          'select',
          { id: 'job-state', value: state, onChange: (e: Event) => setQuery({ state: (e.target as HTMLSelectElement).value }) },
          h('option', { value: '' }, 'any'),
          STATES.map((s) => h('option', { key: s, value: s }, s)),
        ),
        h('label', { for: 'job-group' }, 'Group'),
        h('input', { id: 'job-group', type: 'search', value: group, onChange: (e: Event) => setQuery({ group: (e.target as HTMLInputElement).value.trim() }) }),
        h('label', { for: 'job-node' }, 'Node'),
        h('input', { id: 'job-node', type: 'search', value: node, onChange: (e: Event) => setQuery({ node: (e.target as HTMLInputElement).value.trim() }) }),
      ),
      h(ErrorBox, { error }),
      !list
        ? h(Empty, null, 'Loading…')
        : rows.length === 0
          ? h(Empty, null, 'No jobs match.')
          : h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { class: 'jobs', 'aria-label': 'Jobs' },
                h(
                  'thead',
                  null,
                  h(
                    'tr',
                    null,
                    ['Job', 'State', 'Name / command', 'Group', 'Prio', 'Node', 'Attempts', 'Submitted', 'Took'].map((c) =>
                      h('th', { scope: 'col', key: c }, c),
                    ),
                  ),
                ),
                h(
                  'tbody',
                  null,
                  rows.map((j) =>
                    h(
                      'tr',
                      { key: j.id, 'data-job': j.id },
                      h('td', null, h('a', { href: `/jobs/${j.id}` }, `#${j.id}`)),
                      h('td', { 'data-col': 'state' }, h(StateBadge, { state: j.state })),
                      h('td', { class: 'cmd' }, jobTitle(j)),
                      h('td', null, j.group),
                      h('td', { class: 'num' }, String(j.priority)),
                      h('td', null, j.node ? h('a', { href: `/nodes/${encodeURIComponent(j.node)}` }, j.node) : '—'),
                      h('td', { class: 'num' }, `${j.attempts}/${j.retries + 1}`),
                      h('td', null, ago(j.submittedAt)),
                      h('td', null, j.finishedAt && j.startedAt ? duration(j.finishedAt - j.startedAt) : j.state === 'running' ? 'running' : '—'),
                    ),
                  ),
                ),
              ),
            ),
      list ? h(Pager, { offset, limit: PAGE, total, onPage: (o: number) => setQuery({ offset: o }), label: 'jobs' }) : null,
    ),
  );
}

function lines(s: string): string[] {
  return s
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '');
}

function keyValues(s: string, what: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const l of lines(s)) {
    const i = l.indexOf('=');
    if (i <= 0) throw new Error(`${what}: “${l}” is not key=value`);
    out[l.slice(0, i).trim()] = l.slice(i + 1);
  }
  return Object.keys(out).length ? out : undefined;
}

function SubmitForm({ onSubmitted }: { onSubmitted: () => void }): ComponentChild {
  const [kind, setKind] = useState<'exec' | 'function'>('exec');
  const [f, setF] = useState({
    name: '',
    argv: '',
    env: '',
    stdin: '',
    source: 'export default async function (n) {\n  return n * 2;\n}\n',
    args: '[21]',
    priority: '0',
    group: '',
    retries: '',
    timeoutS: '',
    labels: '',
    cpus: '',
    memoryMb: '',
    arch: '',
    node: '',
  });
  const [error, setError] = useState<unknown>(undefined);
  const [submitted, setSubmitted] = useState<number | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const input = (k: keyof typeof f, label: string, attrs: Record<string, unknown> = {}) =>
    h('div', { class: 'field' }, h('label', { for: `f-${k}` }, label), h('input', { id: `f-${k}`, value: f[k], onInput: set(k), ...attrs }));
  const area = (k: keyof typeof f, label: string, rows = 3, attrs: Record<string, unknown> = {}) =>
    h(
      'div',
      { class: 'field wide' },
      h('label', { for: `f-${k}` }, label),
      h('textarea', { id: `f-${k}`, rows, value: f[k], onInput: set(k), spellcheck: false, ...attrs }),
    );
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setSubmitted(undefined);
    setBusy(true);
    try {
      const body: Record<string, unknown> = { kind };
      if (f.name.trim()) body.name = f.name.trim();
      if (kind === 'exec') {
        body.argv = lines(f.argv);
        const env = keyValues(f.env, 'environment');
        if (env) body.env = env;
        if (f.stdin) body.stdin = f.stdin;
      } else {
        body.source = f.source;
        if (f.args.trim()) {
          const args = JSON.parse(f.args) as unknown;
          if (!Array.isArray(args)) throw new Error('arguments must be a JSON array');
          body.args = args;
        }
        const env = keyValues(f.env, 'environment');
        if (env) body.env = env;
      }
      if (f.priority.trim()) body.priority = Number(f.priority);
      if (f.group.trim()) body.group = f.group.trim();
      if (f.retries.trim()) body.retries = Number(f.retries);
      if (f.timeoutS.trim()) body.timeoutMs = Math.round(Number(f.timeoutS) * 1000);
      const req: Record<string, unknown> = {};
      const labels = keyValues(f.labels, 'labels');
      if (labels) req.labels = labels;
      if (f.cpus.trim()) req.cpus = Number(f.cpus);
      if (f.memoryMb.trim()) req.memoryMb = Number(f.memoryMb);
      if (f.arch.trim()) req.arch = f.arch.trim();
      if (f.node.trim()) req.node = f.node.trim();
      if (Object.keys(req).length) body.requirements = req;
      const job = await api<JobView>('POST', '/api/jobs', body);
      setSubmitted(job.id);
      onSubmitted();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return h(
    'details',
    { class: 'card submit', open: true },
    h('summary', null, h('h2', null, 'Submit a job')),
    h(
      'form',
      { onSubmit: submit, 'aria-label': 'Submit a job' },
      h(
        'fieldset',
        { class: 'kind' },
        h('legend', null, 'Kind'),
        h(
          'label',
          null,
          h('input', { type: 'radio', name: 'kind', value: 'exec', checked: kind === 'exec', onChange: () => setKind('exec') }),
          ' exec (a program)',
        ),
        h(
          'label',
          null,
          h('input', { type: 'radio', name: 'kind', value: 'function', checked: kind === 'function', onChange: () => setKind('function') }),
          ' function (a JS module)',
        ),
      ),
      h(
        'div',
        { class: 'fields' },
        input('name', 'Name (optional)'),
        kind === 'exec'
          ? [
              area('argv', 'Command: program and arguments, one per line', 4, { required: true, placeholder: 'sh\n-c\necho hello from $(hostname)' }),
              area('stdin', 'Standard input (optional)', 2),
            ]
          : [area('source', 'Module source (default export is called)', 6, { required: true }), input('args', 'Arguments (JSON array)')],
        area('env', 'Environment (KEY=value, one per line)', 2),
        input('priority', 'Priority', { type: 'number', min: -1000, max: 1000 }),
        input('group', 'Group', { placeholder: 'default' }),
        input('retries', 'Retries', { type: 'number', min: 0, max: 100, placeholder: 'default' }),
        input('timeoutS', 'Timeout (s)', { type: 'number', min: 0.001, step: 'any', placeholder: 'none' }),
        area('labels', 'Required labels (key=value, one per line)', 2),
        input('cpus', 'Min CPUs', { type: 'number', min: 1 }),
        input('memoryMb', 'Min memory (MB)', { type: 'number', min: 1 }),
        input('arch', 'Arch', { placeholder: 'arm64, x64…' }),
        input('node', 'Pin to node'),
      ),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'submit', class: 'primary', disabled: busy }, busy ? 'Submitting…' : 'Submit'),
        submitted !== undefined
          ? h('span', { class: 'ok inline', role: 'status' }, 'Submitted ', h('a', { href: `/jobs/${submitted}` }, `job #${submitted}`))
          : null,
      ),
      h(ErrorBox, { error }),
    ),
  );
}
