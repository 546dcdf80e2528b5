/// <reference lib="dom" />
/** The node page's boot sections: the boot timeline (all boots, oldest first) and the kernel log of the latest boot. */
import { h, type ComponentChild } from 'preact';
import { isBadBootEvent, stepLabel } from '../boot-activity.ts';
import { Empty } from '../components.ts';
import { time } from '../format.ts';
import type { BootEvent } from '../types.ts';
import { bootText } from './dashboard.ts';

export function BootTimeline({ events }: { events: BootEvent[] }): ComponentChild {
  const steps = events.filter((e) => e.kind !== 'kernel-log');
  if (!steps.length)
    return h(Empty, null, 'No boot events for this node (netboot records DHCP and TFTP; the agent its kernel and /init milestones and hello).');
  const sorted = [...steps].sort((a, b) => a.at - b.at);
  return h(
    'ol',
    { class: 'timeline' },
    sorted
      .slice(-80)
      .map((e, i) =>
        h(
          'li',
          { key: `${e.at}-${i}`, class: `o-${isBadBootEvent(e) ? 'bad' : 'good'} k-${e.kind}` },
          h('time', { dateTime: new Date(e.at).toISOString() }, time(e.at)),
          h('strong', null, e.kind === 'init-milestone' ? stepLabel(e) : e.kind),
          h('span', null, bootText(e)),
        ),
      ),
  );
}

/** The newest kernel log an agent reported (one per boot), as dmesg prints it. */
export function KernelLog({ events }: { events: BootEvent[] }): ComponentChild {
  const logs = events.filter((e) => e.kind === 'kernel-log').sort((a, b) => b.at - a.at);
  const latest = logs[0];
  if (!latest) return h(Empty, null, 'No kernel log yet: the agent sends the boot’s kernel log (/dev/kmsg) at its first hello.');
  const d = latest.detail ?? {};
  return h(
    'div',
    { class: 'kernel-log' },
    h(
      'p',
      { class: 'muted small' },
      `Boot ${String(d.bootId ?? '?').slice(0, 8)} at ${time(latest.at)}: ${String(d.lines ?? 0)} lines`,
      Number(d.droppedLines ?? 0) > 0 ? ` (${String(d.droppedLines)} older lines not kept)` : '',
      logs.length > 1 ? ` · ${logs.length - 1} earlier boot(s) in the timeline` : '',
    ),
    h('pre', { class: 'kmsg', tabIndex: 0, 'aria-label': 'Kernel log' }, String(d.text ?? '')),
  );
}
