/// <reference lib="dom" />
/** One job: spec, attempts, timings, live output, result, cancel and retry (= resubmit the spec). */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Card, ConfirmButton, Empty, ErrorBox, StateBadge } from '../components.ts';
import { duration, time } from '../format.ts';
import { navigate } from '../router.ts';
import { isAdmin, useLive } from '../state.ts';
import type { FullJob, JobView } from '../types.ts';

interface Output {
  running: boolean;
  stdout: string;
  stderr: string;
  stdoutTruncated: number;
  stderrTruncated: number;
}

export function JobPage({ id }: { id: number }): ComponentChild {
  const live = useLive();
  const [job, setJob] = useState<FullJob | undefined>(undefined);
  const [out, setOut] = useState<Output | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const liveJob = live.jobs.get(id);
  const stamp = liveJob ? `${liveJob.state}/${liveJob.attempts}/${liveJob.cancelRequested ?? ''}` : '';
  const outRef = useRef<Output | undefined>(undefined);
  outRef.current = out;

  // The full job (attempts, result) is re-read whenever its live state changes.
  useEffect(() => {
    let gone = false;
    api<FullJob>('GET', `/api/jobs/${id}`)
      .then((j) => !gone && (setJob(j), setError(undefined)))
      .catch((e) => !gone && setError(e));
    api<Output>('GET', `/api/jobs/${id}/output`)
      .then((o) => !gone && setOut(o))
      .catch(() => undefined);
    return () => {
      gone = true;
    };
  }, [id, stamp]);

  // Live output: chunks for this job arrive on the ui channel while we watch it.
  useEffect(() => {
    live.watch(id);
    const off = live.onOutput((jobId, chunks) => {
      if (jobId !== id) return;
      const cur = outRef.current ?? { running: true, stdout: '', stderr: '', stdoutTruncated: 0, stderrTruncated: 0 };
      let { stdout, stderr } = cur;
      for (const c of chunks) {
        if (c.stream === 'stdout') stdout += c.data;
        else stderr += c.data;
      }
      setOut({ ...cur, stdout: stdout.slice(-1_000_000), stderr: stderr.slice(-1_000_000) });
    });
    return () => {
      off();
      live.watch(undefined);
    };
  }, [id]);

  if (!job) return h('main', null, h('h1', null, `Job #${id}`), error ? h(ErrorBox, { error }) : h(Empty, null, 'Loading…'));
  // The live channel carries a spec summary only (no stdin, env, source); the full spec is the REST one.
  const j: FullJob = { ...job, ...(liveJob ?? {}), spec: job.spec } as FullJob;
  const admin = isAdmin();
  const active = j.state === 'queued' || j.state === 'running';
  const retry = async () => {
    const s = j.spec;
    const body: Record<string, unknown> = {
      kind: s.kind,
      ...(s.kind === 'exec'
        ? { argv: s.argv, ...(s.stdin !== undefined ? { stdin: s.stdin } : {}) }
        : { source: s.source, ...(s.args ? { args: s.args } : {}) }),
      ...(s.env ? { env: s.env } : {}),
      ...(j.name ? { name: j.name } : {}),
      priority: j.priority,
      group: j.group,
      retries: j.retries,
      ...(j.timeoutMs !== undefined ? { timeoutMs: j.timeoutMs } : {}),
      ...(Object.keys(j.requirements ?? {}).length ? { requirements: j.requirements } : {}),
    };
    const created = await api<JobView>('POST', '/api/jobs', body);
    navigate(`/jobs/${created.id}`);
  };
  const facts: [string, ComponentChild | string][] = [
    ['State', h('span', { 'data-testid': 'job-state' }, h(StateBadge, { state: j.state }))],
    ['Kind', j.kind],
    ['Priority / group', `${j.priority} / ${j.group}`],
    ['Attempts', `${j.attempts} of ${j.retries + 1}`],
    ['Timeout', j.timeoutMs !== undefined ? duration(j.timeoutMs) : 'none'],
    ['Node', j.node ? h('a', { href: `/nodes/${encodeURIComponent(j.node)}` }, j.node) : '—'],
    ['Submitted', time(j.submittedAt)],
    ['Started', time(j.startedAt)],
    ['Finished', time(j.finishedAt)],
    [
      'Waited / ran',
      `${j.startedAt ? duration(j.startedAt - j.submittedAt) : '—'} / ${j.startedAt && j.finishedAt ? duration(j.finishedAt - j.startedAt) : '—'}`,
    ],
    ['Requirements', Object.keys(j.requirements ?? {}).length ? JSON.stringify(j.requirements) : 'none'],
  ];
  if (j.reason) facts.push(['Reason', j.reason]);
  return h(
    'main',
    { class: 'job-page' },
    h('h1', null, `Job #${j.id}`, j.name ? ` · ${j.name}` : ''),
    h(ErrorBox, { error }),
    admin
      ? h(
          'div',
          { class: 'actions' },
          active && !j.cancelRequested
            ? h(ConfirmButton, {
                label: 'Cancel job',
                danger: true,
                question: `Cancel job #${j.id}? A running job is killed on its node.`,
                action: () => api('DELETE', `/api/jobs/${j.id}`),
              })
            : null,
          j.cancelRequested && active ? h('span', { class: 'muted' }, 'cancelling…') : null,
          h(ConfirmButton, { label: 'Retry', question: `Submit job #${j.id}'s spec again as a new job?`, action: retry }),
        )
      : null,
    h(
      'div',
      { class: 'grid two' },
      h(
        Card,
        { title: 'Summary' },
        h(
          'dl',
          { class: 'facts' },
          facts.flatMap(([k, v]) => [h('dt', { key: `t${k}` }, k), h('dd', { key: `d${k}` }, v)]),
        ),
      ),
      h(
        Card,
        { title: 'Spec' },
        j.spec.kind === 'exec'
          ? [
              h('h3', { key: 'a' }, 'Arguments'),
              h(
                'ol',
                { key: 'b', class: 'argv' },
                j.spec.argv.map((a, i) => h('li', { key: i }, h('code', null, a))),
              ),
              j.spec.stdin ? h('pre', { key: 'c' }, j.spec.stdin) : null,
            ]
          : [
              h('h3', { key: 'a' }, 'Source'),
              h('pre', { key: 'b', class: 'code' }, j.spec.source),
              h('h3', { key: 'c' }, 'Arguments'),
              h('pre', { key: 'd' }, JSON.stringify(j.spec.args ?? [], null, 2)),
            ],
        j.spec.env
          ? h(
              'pre',
              null,
              Object.entries(j.spec.env)
                .map(([k, v]) => `${k}=${v}`)
                .join('\n'),
            )
          : null,
      ),
    ),
    h(
      Card,
      { title: 'Attempts' },
      !j.attemptList?.length
        ? h(Empty, null, 'Not started yet.')
        : h(
            'table',
            { 'aria-label': 'Attempts' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Attempt', 'Node', 'State', 'Started', 'Took', 'Exit', 'Reason'].map((c) => h('th', { scope: 'col', key: c }, c)),
              ),
            ),
            h(
              'tbody',
              null,
              j.attemptList.map((a) =>
                h(
                  'tr',
                  { key: a.id },
                  h('td', null, `#${a.id}`),
                  h('td', null, h('a', { href: `/nodes/${encodeURIComponent(a.node)}` }, a.node)),
                  h('td', null, h(StateBadge, { state: a.state })),
                  h('td', null, time(a.startedAt)),
                  h('td', null, duration(a.durationMs ?? (a.endedAt ? a.endedAt - a.startedAt : undefined))),
                  h('td', null, a.signal ?? (a.exitCode !== undefined ? String(a.exitCode) : '—')),
                  h('td', null, a.reason ?? ''),
                ),
              ),
            ),
          ),
    ),
    j.result
      ? h(
          Card,
          { title: 'Result' },
          h(
            'dl',
            { class: 'facts' },
            h('dt', null, 'Outcome'),
            h('dd', null, j.result.outcome),
            h('dt', null, 'Exit'),
            h('dd', null, j.result.signal ?? (j.result.exitCode !== undefined ? String(j.result.exitCode) : '—')),
            h('dt', null, 'Duration'),
            h('dd', null, duration(j.result.durationMs)),
          ),
          j.result.error ? h('pre', { class: 'stderr' }, j.result.error) : null,
          'value' in j.result ? [h('h3', { key: 'v' }, 'Value'), h('pre', { key: 'p' }, JSON.stringify(j.result.value, null, 2))] : null,
        )
      : null,
    h(
      Card,
      { title: out?.running ? 'Output (live)' : 'Output' },
      !out || (!out.stdout && !out.stderr)
        ? h(Empty, null, active ? 'No output yet.' : 'No output.')
        : [
            out.stdoutTruncated ? h('p', { key: 't1', class: 'muted small' }, `first ${out.stdoutTruncated} characters of stdout dropped`) : null,
            out.stdout ? h('pre', { key: 'o', class: 'stdout', 'aria-label': 'stdout' }, out.stdout) : null,
            out.stderr ? h('pre', { key: 'e', class: 'stderr', 'aria-label': 'stderr' }, out.stderr) : null,
          ],
    ),
  );
}
