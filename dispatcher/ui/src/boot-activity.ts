/**
 * Boot activity across the cluster, pure: boot events (any order, any nodes) → one row per node
 * for its latest boot — the step it is in, how long each step took, whether it failed — sorted
 * failures first, then machines still booting, then those whose agent said hello. What the Boot
 * page shows while a rack comes back after a power cut.
 *
 * A node's latest boot starts at its last DHCP event that follows an agent hello (or at its
 * first event); the boot report's kernel and /init milestones sit between the last boot file and
 * the hello. The kernel log event is not a step.
 */
import type { BootEvent } from './types.ts';

export type BootStatus = 'failed' | 'booting' | 'up';

export interface BootStep {
  readonly label: string;
  readonly at: number;
  /** Time to the next step (undefined for the last one). */
  readonly durationMs: number | undefined;
  readonly bad: boolean;
}

export interface BootRow {
  readonly node: string;
  readonly status: BootStatus;
  readonly startedAt: number;
  readonly lastAt: number;
  readonly current: string;
  readonly steps: readonly BootStep[];
  /** The first failure of this boot, in words. */
  readonly failure: string | undefined;
}

const BAD_OUTCOMES = new Set(['error', 'timeout', 'not-found', 'refused', 'client-error', 'nak']);

export function isBadBootEvent(e: Pick<BootEvent, 'kind' | 'outcome'>): boolean {
  return e.kind === 'dhcp-ignored' || BAD_OUTCOMES.has(e.outcome);
}

export function stepLabel(e: BootEvent): string {
  const d = e.detail ?? {};
  if (e.kind === 'init-milestone') return String(d.step ?? 'init');
  if (e.kind === 'tftp-transfer' || e.kind === 'http-fetch') return `${e.kind === 'tftp-transfer' ? 'tftp' : 'http'} ${String(d.file ?? '?')}`;
  if (e.kind === 'agent-hello') return 'agent hello';
  return e.kind;
}

const isDhcp = (e: BootEvent): boolean => e.kind === 'dhcp-discover' || e.kind === 'dhcp-ack' || e.kind === 'dhcp-ignored';

/** The events of a node's latest boot, oldest first. */
export function latestBoot(events: readonly BootEvent[]): BootEvent[] {
  const sorted = events.filter((e) => e.kind !== 'kernel-log').sort((a, b) => a.at - b.at);
  let start = 0;
  let helloSeen = false;
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i] as BootEvent;
    if (e.kind === 'agent-hello') helloSeen = true;
    else if (helloSeen && isDhcp(e)) {
      start = i;
      helloSeen = false;
    }
  }
  return sorted.slice(start);
}

export function bootRows(events: readonly BootEvent[]): BootRow[] {
  const byNode = new Map<string, BootEvent[]>();
  for (const e of events) {
    const key = e.node ?? (e.mac ? `unknown ${e.mac}` : undefined);
    if (!key) continue;
    let list = byNode.get(key);
    if (!list) byNode.set(key, (list = []));
    list.push(e);
  }
  const rows: BootRow[] = [];
  for (const [node, list] of byNode) {
    const boot = latestBoot(list);
    if (!boot.length) continue;
    const steps = boot.map((e, i) => ({
      label: stepLabel(e),
      at: e.at,
      durationMs: i + 1 < boot.length ? (boot[i + 1] as BootEvent).at - e.at : undefined,
      bad: isBadBootEvent(e),
    }));
    const first = boot[0] as BootEvent;
    const last = boot[boot.length - 1] as BootEvent;
    const failed = boot.find(isBadBootEvent);
    const up = last.kind === 'agent-hello';
    rows.push({
      node,
      status: up ? 'up' : failed ? 'failed' : 'booting',
      startedAt: first.at,
      lastAt: last.at,
      current: stepLabel(last),
      steps,
      failure: failed ? `${stepLabel(failed)}: ${failed.outcome}${failed.reason ? ` (${failed.reason})` : ''}` : undefined,
    });
  }
  const order: Record<BootStatus, number> = { failed: 0, booting: 1, up: 2 };
  return rows.sort((a, b) => order[a.status] - order[b.status] || b.lastAt - a.lastAt || a.node.localeCompare(b.node));
}
