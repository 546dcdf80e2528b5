/** The boot doctor's result on the wire (`GET /api/nodes/:name/boot-doctor`), declared once. */
import { Type, type Static } from '@sinclair/typebox';

export const BootFindingSchema = Type.Object({
  id: Type.String(),
  /** Where the failure mode is described: `§5.N` of the Pi netboot brief, or its section. */
  ref: Type.String(),
  severity: Type.Union([Type.Literal('fail'), Type.Literal('warn'), Type.Literal('info')]),
  title: Type.String(),
  evidence: Type.String(),
  fix: Type.String(),
});

export const BootDiagnosisSchema = Type.Object({
  node: Type.String(),
  /** `booted`: the latest attempt reached the agent; `booting`: it moved within the last minute. */
  verdict: Type.Union([Type.Literal('booted'), Type.Literal('booting'), Type.Literal('failed'), Type.Literal('no-data')]),
  /** The last step of the latest attempt, in words (`tftp 1a2b3c4d/kernel8.img complete`). */
  lastStep: Type.Optional(Type.String()),
  lastStepAt: Type.Optional(Type.Number()),
  attemptStartedAt: Type.Optional(Type.Number()),
  /** First step of the attempt to the agent's hello. */
  bootMs: Type.Optional(Type.Number()),
  findings: Type.Array(BootFindingSchema),
});

export type BootFinding = Static<typeof BootFindingSchema>;
export type BootDiagnosis = Static<typeof BootDiagnosisSchema>;
export type BootVerdict = BootDiagnosis['verdict'];
