/** Text the doctor prints: the boot doctor's diagnosis and pass/warn/fail tables. Pure. */
import type { BootDiagnosis } from '../../doctor/boot/schema.ts';
import type { CheckRow } from '../../doctor/network/checks.ts';

const MARK: Record<string, string> = { pass: 'PASS', ok: 'PASS', info: 'INFO', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

/** Wraps `text` at `width` columns, indenting continuation lines. */
export function wrapText(text: string, width: number, indent: string): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : indent + l)).join('\n');
}

export function formatDiagnosis(d: BootDiagnosis, now: number): string {
  const when = (t: number | undefined) => (t === undefined ? '' : ` (${Math.max(0, Math.round((now - t) / 1000))}s ago)`);
  const head = [
    `${d.node}: ${d.verdict}${d.bootMs !== undefined ? ` in ${(d.bootMs / 1000).toFixed(1)} s` : ''}`,
    d.lastStep ? `last step: ${d.lastStep}${when(d.lastStepAt)}` : 'last step: none recorded',
  ];
  if (!d.findings.length) return [...head, d.verdict === 'booted' ? 'no known failure matches.' : 'no known failure matches (yet).'].join('\n');
  const body = d.findings.map((f) =>
    [
      `${MARK[f.severity] ?? f.severity}  ${f.title}  [${f.id}, ${f.ref}]`,
      `      seen: ${wrapText(f.evidence, 90, '            ')}`,
      `      fix:  ${wrapText(f.fix, 90, '            ')}`,
    ].join('\n'),
  );
  return [...head, '', ...body].join('\n');
}

export function formatChecks(rows: readonly CheckRow[]): string {
  const width = Math.max(5, ...rows.map((r) => r.name.length));
  const lines = rows.map((r) => {
    const head = `${MARK[r.status]}  ${r.name.padEnd(width)}  ${r.detail}`;
    return r.fix && r.status !== 'pass' ? `${head}\n      ${' '.repeat(width)}fix: ${wrapText(r.fix, 90, ' '.repeat(width + 11))}` : head;
  });
  const count = (s: CheckRow['status']) => rows.filter((r) => r.status === s).length;
  return [...lines, '', `${count('pass')} passed, ${count('warn')} warnings, ${count('fail')} failed${count('skip') ? `, ${count('skip')} skipped` : ''}`].join(
    '\n',
  );
}
