/**
 * `diagnoseBoot(input) → BootDiagnosis`: runs the catalogue over one node's latest boot
 * attempt and says how far it got. Pure; `picluster doctor <node>`, `GET
 * /api/nodes/:name/boot-doctor` and the node page's panel all show this one result.
 */
import type { BootEvent } from '../../netboot/boot-event.ts';
import { CATALOGUE, type Severity } from './catalogue.ts';
import { buildContext, fileOf, seconds, type BootDoctorInput } from './context.ts';
import type { BootDiagnosis, BootFinding } from './schema.ts';

export type { BootDoctorInput } from './context.ts';

export type { BootDiagnosis, BootFinding, BootVerdict } from './schema.ts';

export function describeStep(e: BootEvent): string {
  const file = fileOf(e);
  const kind = e.kind
    .replace(/^dhcp-discover$/, 'dhcp')
    .replace(/^tftp-transfer$/, 'tftp')
    .replace(/^http-fetch$/, 'http');
  return [kind, file, e.outcome, e.reason ? `(${e.reason})` : ''].filter(Boolean).join(' ');
}

const UNRECOGNISED = {
  id: 'unrecognised-stop',
  ref: '§5',
  severity: 'warn' as const,
  title: 'The boot stopped at a step no known failure matches',
  fix: 'Read the timeline from the last step on (docs/boot-timeline.md) and the console; file an issue with the timeline so the catalogue learns it.',
};

export function diagnoseBoot(input: BootDoctorInput): BootDiagnosis {
  const ctx = buildContext(input);
  const findings: BootFinding[] = [];
  for (const entry of CATALOGUE) {
    const evidence = entry.match(ctx);
    if (evidence !== undefined) findings.push({ id: entry.id, ref: entry.ref, severity: entry.severity, title: entry.title, evidence, fix: entry.fix });
  }
  const lastEvent = ctx.attempt[ctx.attempt.length - 1];
  const base = {
    node: input.node.name,
    ...(lastEvent ? { lastStep: describeStep(lastEvent), lastStepAt: lastEvent.at } : {}),
    ...(ctx.attempt[0] ? { attemptStartedAt: ctx.attempt[0].at } : {}),
  };
  const failed = findings.some((f) => f.severity === 'fail');
  if (ctx.hello && !failed) {
    const bootMs = ctx.hello.at - ctx.attempt[0]!.at;
    return { ...base, verdict: 'booted', ...(bootMs > 0 ? { bootMs } : {}), findings };
  }
  if (!lastEvent) return { ...base, verdict: failed ? 'failed' : 'no-data', findings };
  if (!failed && input.now - lastEvent.at < 60_000) return { ...base, verdict: 'booting', findings };
  if (!failed && !ctx.hello && !input.node.connected) {
    findings.push({ ...UNRECOGNISED, evidence: `last step ${describeStep(lastEvent)}, ${seconds(input.now - lastEvent.at)} ago` });
  }
  return { ...base, verdict: failed || !input.node.connected ? 'failed' : 'booted', findings };
}

/** Every catalogue entry without its matcher (for docs, the CLI's --list and the tests). */
export function catalogueEntries(): { id: string; ref: string; severity: Severity; title: string; fix: string }[] {
  return [...CATALOGUE, UNRECOGNISED].map(({ id, ref, severity, title, fix }) => ({ id, ref, severity, title, fix }));
}
