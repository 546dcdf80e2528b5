/**
 * Browser shell relay: a browser's terminal (ws `/shell`) ⇄ the Dispatcher ⇄ the node's agent
 * link ⇄ a pty on the node (node-agent/shell.ts). The broker owns the session table only:
 * ids, which browser a node's `shell-output` belongs to, an idle timeout, and a node event for
 * every session opened and closed (who, from where, how long). Transport-free: the ws route in
 * dispatcher/http/shell-gateway.ts adapts a socket to `ShellPeer`.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/logger.ts';
import type { Dispatcher } from './dispatcher.ts';
import { ShellUnavailableError } from './errors.ts';
import { guarded } from './guard.ts';
import type { DispatcherEvents } from './events.ts';
import type { NodeView } from './views.ts';

/** What the broker sends to the browser side. */
export type ShellToBrowser =
  { type: 'opened'; sessionId: string; node: string } | { type: 'output'; data: string } | { type: 'exit'; code: number; reason: string };

export interface ShellPeer {
  send(frame: ShellToBrowser): void;
  /** The session is over; the peer should close its transport. */
  end(): void;
}

export interface ShellBrokerOptions {
  /** No keystroke for this long closes the session; default 15 minutes. */
  readonly idleTimeoutMs?: number;
  readonly now?: () => number;
}

interface Session {
  readonly id: string;
  readonly node: string;
  readonly actor: string;
  readonly from: string;
  readonly openedAt: number;
  readonly peer: ShellPeer;
  idle: NodeJS.Timeout;
  ended: boolean;
}

export class ShellBroker {
  private readonly sessions = new Map<string, Session>();
  private readonly idleTimeoutMs: number;
  private readonly now: () => number;
  private readonly detach: () => void;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
    options: ShellBrokerOptions = {},
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
    const onFrame = ({ node, message }: DispatcherEvents['agentShellFrame'][0]) => {
      const s = this.sessions.get(message.sessionId);
      if (!s || s.node !== node) return;
      if (message.type === 'shell-output') s.peer.send({ type: 'output', data: message.data });
      else this.finish(s, message.code, 'the shell exited', false);
    };
    const onNode = (n: NodeView) => {
      if (n.connected) return;
      for (const s of this.sessions.values()) if (s.node === n.name) this.finish(s, -1, 'the agent disconnected', false);
    };
    dispatcher.on('agentShellFrame', onFrame);
    dispatcher.on('node', onNode);
    this.detach = () => {
      dispatcher.off('agentShellFrame', onFrame);
      dispatcher.off('node', onNode);
    };
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Opens a pty on `node` for `actor`; throws if the node is unknown or its agent is not connected. */
  open(node: string, actor: string, from: string, size: { cols: number; rows: number }, peer: ShellPeer): string {
    const view = this.dispatcher.getNode(node);
    if (!view.connected) throw new ShellUnavailableError(`node '${node}' has no connected agent: a shell needs one`);
    const id = randomBytes(12).toString('base64url');
    const session: Session = { id, node, actor, from, openedAt: this.now(), peer, idle: this.idleTimer(id), ended: false };
    this.sessions.set(id, session);
    if (!this.dispatcher.sendToNode(node, { type: 'shell-open', sessionId: id, cols: size.cols, rows: size.rows })) {
      clearTimeout(session.idle);
      this.sessions.delete(id);
      throw new ShellUnavailableError(`node '${node}' has no connected agent: a shell needs one`);
    }
    this.dispatcher.recordNodeEvent(node, 'shell', `shell opened by ${actor} from ${from}`, actor);
    this.log.info({ node, sessionId: id, actor, from }, 'shell session opened');
    peer.send({ type: 'opened', sessionId: id, node });
    return id;
  }

  input(id: string, data: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    clearTimeout(s.idle);
    s.idle = this.idleTimer(id);
    // Large pastes are split to stay within the protocol's frame bound.
    for (let i = 0; i < data.length; i += 32 * 1024)
      this.dispatcher.sendToNode(s.node, { type: 'shell-input', sessionId: id, data: data.slice(i, i + 32 * 1024) });
  }

  resize(id: string, cols: number, rows: number): void {
    const s = this.sessions.get(id);
    if (s) this.dispatcher.sendToNode(s.node, { type: 'shell-resize', sessionId: id, cols, rows });
  }

  /** The browser went away or asked to close. */
  close(id: string, reason = 'closed by the browser'): void {
    const s = this.sessions.get(id);
    if (s) this.finish(s, -1, reason, true);
  }

  closeAll(reason: string): void {
    for (const s of [...this.sessions.values()]) this.finish(s, -1, reason, true);
    this.detach();
  }

  private idleTimer(id: string): NodeJS.Timeout {
    const t = setTimeout(
      guarded(this.dispatcher, this.log, 'timer', 'shell idle', () => {
        const s = this.sessions.get(id);
        if (s) this.finish(s, -1, `idle for ${Math.round(this.idleTimeoutMs / 1000)} s`, true);
      }),
      this.idleTimeoutMs,
    );
    t.unref();
    return t;
  }

  private finish(s: Session, code: number, reason: string, tellAgent: boolean): void {
    if (s.ended) return;
    s.ended = true;
    clearTimeout(s.idle);
    this.sessions.delete(s.id);
    if (tellAgent) {
      try {
        this.dispatcher.sendToNode(s.node, { type: 'shell-close', sessionId: s.id });
      } catch {
        /* node removed meanwhile */
      }
    }
    const seconds = Math.round((this.now() - s.openedAt) / 1000);
    try {
      this.dispatcher.recordNodeEvent(
        s.node,
        'shell',
        `shell of ${s.actor} closed after ${seconds} s: ${reason}${code >= 0 ? ` (exit ${code})` : ''}`,
        s.actor,
      );
    } catch (e) {
      this.log.debug({ err: e, node: s.node }, 'could not record the shell close');
    }
    this.log.info({ node: s.node, sessionId: s.id, reason, code, seconds }, 'shell session closed');
    s.peer.send({ type: 'exit', code, reason });
    s.peer.end();
  }
}
