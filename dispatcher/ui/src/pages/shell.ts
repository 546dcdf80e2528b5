/// <reference lib="dom" />
/** The admin's shell on a node: xterm.js (loaded on demand) ⇄ ws /shell ⇄ the agent's pty. */
import { h, type ComponentChild } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Card } from '../components.ts';
import { currentSession } from '../state.ts';

type Status = 'closed' | 'connecting' | 'open' | 'ended';

export function ShellPanel({ node, connected }: { node: string; connected: boolean }): ComponentChild {
  const [open, setOpen] = useState(false);
  const [status, setStatus] = useState<Status>('closed');
  const [message, setMessage] = useState('');
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    let dispose: (() => void) | undefined;
    let gone = false;
    setStatus('connecting');
    setMessage('');
    void import('../terminal.ts').then(({ openTerminal }) => {
      if (gone || !host.current) return;
      dispose = openTerminal(host.current, node, currentSession()!.token, {
        onOpen: () => setStatus('open'),
        onEnd: (why) => {
          setStatus('ended');
          setMessage(why);
        },
      });
    });
    return () => {
      gone = true;
      dispose?.();
    };
  }, [open, node]);
  return h(
    Card,
    { title: 'Shell', class: 'shell' },
    h(
      'div',
      { class: 'row' },
      open
        ? h('button', { type: 'button', onClick: () => (setOpen(false), setStatus('closed')) }, 'Close shell')
        : h('button', { type: 'button', class: 'primary', disabled: !connected, onClick: () => setOpen(true) }, 'Open shell'),
      h(
        'span',
        { class: 'muted small', role: 'status' },
        !connected
          ? 'The agent is not connected.'
          : status === 'closed'
            ? 'A terminal on the node through its agent; every session is recorded as a node event.'
            : status === 'ended'
              ? `Session ended: ${message}`
              : status,
      ),
    ),
    open ? h('div', { ref: host, class: 'terminal', 'aria-label': `Shell on ${node}` }) : null,
  );
}
