/// <reference lib="dom" />
/** xterm.js wired to `ws /shell` (split into its own chunk: only admins opening a shell load it). */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';

export function openTerminal(host: HTMLElement, node: string, token: string, on: { onOpen: () => void; onEnd: (why: string) => void }): () => void {
  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, screenReaderMode: false, convertEol: false });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  try {
    fit.fit();
  } catch {
    /* not laid out yet */
  }
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(
    `${proto}//${location.host}/shell?node=${encodeURIComponent(node)}&token=${encodeURIComponent(token)}&cols=${term.cols}&rows=${term.rows}`,
  );
  let ended = false;
  const end = (why: string) => {
    if (ended) return;
    ended = true;
    on.onEnd(why);
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(String(ev.data)) as { type: string; data?: string; code?: number; reason?: string; message?: string };
    if (m.type === 'opened') {
      on.onOpen();
      term.focus();
    } else if (m.type === 'output') term.write(m.data ?? '');
    else if (m.type === 'exit') {
      term.write(`\r\n[${m.reason ?? 'session ended'}]\r\n`);
      end(`${m.reason ?? 'ended'}${m.code !== undefined && m.code >= 0 ? ` (exit ${m.code})` : ''}`);
    } else if (m.type === 'error') {
      term.write(`\r\n${m.message ?? 'error'}\r\n`);
      end(m.message ?? 'error');
    }
  };
  ws.onclose = () => end('connection closed');
  const input = term.onData((data) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'input', data }));
  });
  const resize = term.onResize(({ cols, rows }) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }));
  });
  const ro = new ResizeObserver(() => {
    try {
      fit.fit();
    } catch {
      /* hidden */
    }
  });
  ro.observe(host);
  return () => {
    ro.disconnect();
    input.dispose();
    resize.dispose();
    ended = true;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, 'closed');
    term.dispose();
  };
}
