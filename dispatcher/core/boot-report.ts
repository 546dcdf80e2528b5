/**
 * An agent's boot report (protocol `boot-report`) as boot events, pure: one `init-milestone` per
 * kernel/`/init` step at its wall-clock time (bootedAt + ms since boot), and one `kernel-log`
 * event holding the log of that boot as text. Together with netboot's DHCP/TFTP/HTTP events and
 * the agent hello they make a timeline without a gap from DISCOVER to hello.
 */
import type { AgentMessage, MessageOf } from '../../common/protocol.ts';
import type { BootEvent } from '../../netboot/boot-event.ts';

export type BootReportFrame = MessageOf<AgentMessage, 'boot-report'>;

const LEVELS = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug'] as const;

/** `[   12.345678] text` lines, as dmesg prints them. */
export function kernelLogText(report: Pick<BootReportFrame, 'kernelLog'>): string {
  return report.kernelLog.map((l) => `[${(l.uptimeMs / 1000).toFixed(6).padStart(12)}] ${l.level <= 3 ? `${LEVELS[l.level]}: ` : ''}${l.text}`).join('\n');
}

export function bootReportEvents(node: { readonly name: string; readonly mac?: string; readonly serial?: string }, report: BootReportFrame): BootEvent[] {
  const who = { node: node.name, ...(node.mac ? { mac: node.mac } : {}), ...(node.serial ? { serial: node.serial } : {}) };
  const events: BootEvent[] = report.milestones.map((m) => ({
    kind: 'init-milestone',
    at: Math.round(report.bootedAt + m.uptimeMs),
    ...who,
    outcome: m.detail.outcome === 'error' ? 'error' : 'ok',
    detail: { ...m.detail, step: m.step, uptimeMs: Math.round(m.uptimeMs), bootId: report.bootId },
  }));
  events.push({
    kind: 'kernel-log',
    at: Math.round(report.bootedAt),
    ...who,
    outcome: 'complete',
    detail: { bootId: report.bootId, lines: report.kernelLog.length, droppedLines: report.droppedLines, text: kernelLogText(report) },
  });
  return events;
}
