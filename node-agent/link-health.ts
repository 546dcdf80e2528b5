/**
 * Two small parts of the agent's link (agent.ts): when the dispatcher counts as silent (pure),
 * and the boot report's delivery.
 */
import type { Logger } from '../common/logger.ts';
import type { BootReport } from './boot-report.ts';

/**
 * The heartbeat tick's judgement. A dispatcher that vanished without a FIN (power cut) is silent
 * once nothing came from it for 3 heartbeats (at least 5 s). A tick that comes long after the one
 * before means this process was starved (a guest's vCPU descheduled, a swap storm): frames that
 * came meanwhile are still unread (timers run before I/O), so that tick does not judge ('late');
 * the next one does, late or not (a process late at every tick is still judged).
 */
export function tickVerdict(o: {
  readonly now: number;
  readonly lastSeen: number;
  readonly lastTickAt: number | undefined;
  readonly heartbeatMs: number;
  readonly skippedLast: boolean;
}): 'ok' | 'late' | 'silent' {
  const late = o.lastTickAt !== undefined && o.now - o.lastTickAt > 2 * o.heartbeatMs + 1000;
  if (late && !o.skippedLast) return 'late';
  return o.now - o.lastSeen > Math.max(3 * o.heartbeatMs, 5000) ? 'silent' : 'ok';
}

/** tickVerdict over the ticks of one link (reset at each welcome). */
export class SilenceWatch {
  private lastTickAt: number | undefined;
  private skippedLast = false;

  /** True when the dispatcher counts as silent at this tick. */
  tick(now: number, lastSeen: number, heartbeatMs: number): boolean {
    const verdict = tickVerdict({ now, lastSeen, lastTickAt: this.lastTickAt, heartbeatMs, skippedLast: this.skippedLast });
    this.lastTickAt = now;
    this.skippedLast = verdict === 'late';
    return verdict === 'silent';
  }

  reset(): void {
    this.lastTickAt = undefined;
    this.skippedLast = false;
  }
}

/**
 * Sends the boot report after a welcome. It counts as delivered once the link that carried it
 * stayed up for stableAfterMs: a link that dies right after the welcome (a starved guest's timers,
 * a master killed mid-start) may have lost it, so the next welcome sends it again (the dispatcher
 * keeps one per boot id). Placed on the dispatcher's clock (welcome.serverTime): a Pi without RTC
 * may still think it is 1970.
 */
export class BootReporter<Link> {
  private delivered = false;
  private carrier: { readonly link: Link; readonly at: number } | undefined;

  constructor(
    private readonly o: {
      readonly stableAfterMs: number;
      /** Builds the report (undefined: nothing to send here, not tried again). */
      readonly build: ((bootId: string, serverTime: number) => BootReport | undefined) | undefined;
      /** Sends it on the current link; false when the link is not open. */
      readonly send: (report: BootReport) => boolean;
      readonly log: Logger;
    },
  ) {}

  welcomed(link: Link, bootId: string | undefined, serverTime: number, now: number): void {
    if (this.delivered || this.carrier?.link === link || !this.o.build || bootId === undefined) return;
    const report = this.o.build(bootId, serverTime);
    if (!report) this.delivered = true;
    else if (this.o.send(report)) {
      this.carrier = { link, at: now };
      this.o.log.info({ milestones: report.milestones.length, kernelLogLines: report.kernelLog.length, dropped: report.droppedLines }, 'boot report sent');
    }
  }

  closed(link: Link, now: number): void {
    if (this.carrier?.link !== link) return;
    if (now - this.carrier.at >= this.o.stableAfterMs) this.delivered = true;
    this.carrier = undefined;
  }
}
