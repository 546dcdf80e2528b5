import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { AgentMessage } from '../common/protocol.ts';
import { ShellSessions } from './shell.ts';

const log = pino({ level: 'silent' });

function collector() {
  const sent: AgentMessage[] = [];
  let wake: (() => void) | undefined;
  const send = (m: AgentMessage) => {
    sent.push(m);
    wake?.();
    return true;
  };
  /** Resolves when a sent frame satisfies `pred` (event-driven, bounded by the test timeout). */
  const until = (pred: (all: AgentMessage[]) => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (pred(sent)) {
          wake = undefined;
          resolve();
        }
      };
      wake = check;
      check();
    });
  return { sent, send, until };
}

const output = (sent: AgentMessage[]) => sent.map((m) => (m.type === 'shell-output' ? m.data : '')).join('');

describe('agent shell sessions (node-pty)', () => {
  it('runs a command in a real pty and reports the exit', { timeout: 20_000 }, async () => {
    const c = collector();
    const shells = new ShellSessions(c.send, { log, shell: '/bin/sh' });
    shells.handle({ type: 'shell-open', sessionId: 's1', cols: 80, rows: 24 });
    await c.until(() => shells.size === 1);
    shells.handle({ type: 'shell-input', sessionId: 's1', data: 'echo $((6*7))\n' });
    await c.until((all) => /^42\r?$/m.test(output(all)));
    shells.handle({ type: 'shell-resize', sessionId: 's1', cols: 100, rows: 30 });
    shells.handle({ type: 'shell-input', sessionId: 's1', data: 'exit 3\n' });
    await c.until((all) => all.some((m) => m.type === 'shell-exit'));
    expect(c.sent.find((m) => m.type === 'shell-exit')).toEqual({ type: 'shell-exit', sessionId: 's1', code: 3 });
    expect(shells.size).toBe(0);
  });

  it('closeAll kills every pty (link lost)', { timeout: 20_000 }, async () => {
    const c = collector();
    const shells = new ShellSessions(c.send, { log, shell: '/bin/sh' });
    shells.handle({ type: 'shell-open', sessionId: 'a', cols: 80, rows: 24 });
    shells.handle({ type: 'shell-open', sessionId: 'b', cols: 80, rows: 24 });
    await c.until(() => shells.size === 2);
    shells.closeAll('dispatcher connection lost');
    await c.until((all) => all.filter((m) => m.type === 'shell-exit').length === 2);
    expect(shells.size).toBe(0);
  });

  it('answers an open it cannot serve with an explanation and exit -1', async () => {
    const c = collector();
    const shells = new ShellSessions(c.send, {
      log,
      spawn: () => {
        throw new Error('no ptys here');
      },
    });
    shells.handle({ type: 'shell-open', sessionId: 'x', cols: 80, rows: 24 });
    await c.until((all) => all.some((m) => m.type === 'shell-exit'));
    expect(output(c.sent)).toContain('cannot open a shell: no ptys here');
    expect(c.sent.at(-1)).toEqual({ type: 'shell-exit', sessionId: 'x', code: -1 });
  });
});
