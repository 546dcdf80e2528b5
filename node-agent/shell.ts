/**
 * Browser shell, agent side: the dispatcher relays an admin's terminal (xterm.js in the web
 * UI) to a pty opened here with node-pty. Frames (common/protocol.ts): `shell-open`,
 * `shell-input`, `shell-resize`, `shell-close` in; `shell-output`, `shell-exit` out.
 *
 * The shell is `$SHELL` or `/bin/sh`, started in `$HOME` with `TERM=xterm-256color`. A session
 * with no input for `idleTimeoutMs` is closed; every session is closed when the link to the
 * dispatcher drops (nobody can type into it any more). node-pty is loaded on first use, so an
 * agent built without it still runs jobs and answers `shell-open` with an explanation.
 */
import { homedir } from 'node:os';
import type { Logger } from '../common/logger.ts';
import type { AgentMessage, DispatcherMessage, MessageOf } from '../common/protocol.ts';

export type ShellFrame = MessageOf<DispatcherMessage, 'shell-open' | 'shell-input' | 'shell-resize' | 'shell-close'>;

/** The part of node-pty's IPty this module uses (tests can pass a fake). */
export interface Pty {
  onData(listener: (data: string) => void): unknown;
  onExit(listener: (e: { exitCode: number; signal?: number }) => void): unknown;
  write(data: string): void;
  resize(cols: number, rows: number): void;
  kill(signal?: string): void;
}

export type PtySpawner = (file: string, args: string[], options: { name: string; cols: number; rows: number; cwd: string; env: Record<string, string> }) => Pty;

export interface ShellOptions {
  readonly log: Logger;
  /** Default: `$SHELL`, else `/bin/sh`. */
  readonly shell?: string;
  /** Default: the user's home directory. */
  readonly cwd?: string;
  /** Default 15 minutes. */
  readonly idleTimeoutMs?: number;
  /** Concurrent sessions on this node; default 8. */
  readonly maxSessions?: number;
  /** Default: node-pty's `spawn`, imported on first use. */
  readonly spawn?: PtySpawner;
}

/** Output bigger than this is split over several frames (the protocol allows 1 MiB). */
const MAX_CHUNK = 256 * 1024;

interface Session {
  readonly pty: Pty;
  idleTimer: NodeJS.Timeout;
}

export class ShellSessions {
  private readonly sessions = new Map<string, Session>();
  private spawner: Promise<PtySpawner> | undefined;
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly send: (msg: AgentMessage) => boolean,
    private readonly o: ShellOptions,
  ) {
    this.idleTimeoutMs = o.idleTimeoutMs ?? 15 * 60_000;
  }

  get size(): number {
    return this.sessions.size;
  }

  handle(m: ShellFrame): void {
    switch (m.type) {
      case 'shell-open':
        void this.open(m.sessionId, m.cols, m.rows);
        return;
      case 'shell-input': {
        const s = this.sessions.get(m.sessionId);
        if (!s) return;
        this.touch(m.sessionId, s);
        s.pty.write(m.data);
        return;
      }
      case 'shell-resize':
        this.sessions.get(m.sessionId)?.pty.resize(m.cols, m.rows);
        return;
      case 'shell-close':
        this.close(m.sessionId, 'closed by the dispatcher');
        return;
    }
  }

  /** Kills every session (link lost, agent stopping). */
  closeAll(reason: string): void {
    for (const id of [...this.sessions.keys()]) this.close(id, reason);
  }

  private async open(sessionId: string, cols: number, rows: number): Promise<void> {
    if (this.sessions.has(sessionId)) return;
    if (this.sessions.size >= (this.o.maxSessions ?? 8)) {
      this.fail(sessionId, `too many shell sessions on this node (${this.sessions.size})`);
      return;
    }
    let pty: Pty;
    const file = this.o.shell ?? process.env.SHELL ?? '/bin/sh';
    try {
      const spawn = await this.loadSpawner();
      // TERM is what xterm.js emulates; the rest of the agent's environment is inherited.
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
      env.TERM = 'xterm-256color';
      delete env.PICLUSTER_AGENT_TOKEN;
      pty = spawn(file, [], { name: 'xterm-256color', cols, rows, cwd: this.o.cwd ?? homedir(), env });
    } catch (e) {
      this.fail(sessionId, `cannot open a shell: ${(e as Error).message}`);
      return;
    }
    const session: Session = { pty, idleTimer: this.idleTimer(sessionId) };
    this.sessions.set(sessionId, session);
    this.o.log.info({ sessionId, shell: file, cols, rows }, 'shell session opened');
    pty.onData((data) => {
      for (let i = 0; i < data.length; i += MAX_CHUNK) this.send({ type: 'shell-output', sessionId, data: data.slice(i, i + MAX_CHUNK) });
    });
    pty.onExit(({ exitCode }) => {
      clearTimeout(session.idleTimer);
      if (this.sessions.get(sessionId) === session) this.sessions.delete(sessionId);
      this.o.log.info({ sessionId, exitCode }, 'shell session ended');
      this.send({ type: 'shell-exit', sessionId, code: exitCode });
    });
  }

  private close(sessionId: string, reason: string): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    this.sessions.delete(sessionId);
    clearTimeout(s.idleTimer);
    this.o.log.info({ sessionId, reason }, 'closing shell session');
    try {
      s.pty.kill('SIGHUP');
    } catch {
      /* already gone */
    }
  }

  private fail(sessionId: string, message: string): void {
    this.o.log.warn({ sessionId, message }, 'shell session refused');
    this.send({ type: 'shell-output', sessionId, data: `\r\n${message}\r\n` });
    this.send({ type: 'shell-exit', sessionId, code: -1 });
  }

  private idleTimer(sessionId: string): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.send({ type: 'shell-output', sessionId, data: `\r\n[idle for ${Math.round(this.idleTimeoutMs / 1000)} s: session closed]\r\n` });
      this.close(sessionId, 'idle timeout');
    }, this.idleTimeoutMs);
    t.unref();
    return t;
  }

  private touch(sessionId: string, s: Session): void {
    clearTimeout(s.idleTimer);
    s.idleTimer = this.idleTimer(sessionId);
  }

  private loadSpawner(): Promise<PtySpawner> {
    if (this.o.spawn) return Promise.resolve(this.o.spawn);
    this.spawner ??= import('node-pty').then(
      (m) => {
        const mod = m as unknown as { spawn?: PtySpawner; default?: { spawn: PtySpawner } };
        const spawn = mod.spawn ?? mod.default?.spawn;
        if (!spawn) throw new Error('node-pty has no spawn()');
        return spawn;
      },
      (e: Error) => {
        this.spawner = undefined;
        throw new Error(`node-pty is not available on this node (${e.message})`);
      },
    );
    return this.spawner;
  }
}
