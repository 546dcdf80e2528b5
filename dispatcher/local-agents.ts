/**
 * Local agents (`npm start`, `--local-agents N`): child processes of the master, restarted
 * with backoff if they exit; with TLS on they pin the master's current certificate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../common/logger.ts';
import { deriveNodeToken } from '../common/tokens.ts';

const BIN = fileURLToPath(new URL('../bin/picluster.js', import.meta.url));

/** Local agents (`npm start`): child processes restarted with backoff if they exit. */
export class LocalAgents {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  private readonly restarts = new Map<string, number>();

  constructor(
    private readonly count: number,
    private readonly url: string,
    private readonly secret: string,
    private readonly dataDir: string,
    private readonly log: Logger,
    private readonly tlsPin: () => string | undefined,
  ) {}

  start(): void {
    for (let i = 1; i <= this.count; i++) this.spawn(`local-${i}`);
  }

  pids(): number[] {
    return [...this.children.values()].map((c) => c.pid!).filter(Boolean);
  }

  private spawn(name: string): void {
    const pin = this.tlsPin();
    const args = [BIN, 'agent', '--dispatcher', this.url, '--name', name, '--work-dir', join(this.dataDir, 'agents', name), ...(pin ? ['--tls-pin', pin] : [])];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, PICLUSTER_AGENT_TOKEN: deriveNodeToken(this.secret, name) },
    });
    this.children.set(name, child);
    this.log.info({ name, pid: child.pid }, 'local agent started');
    child.on('exit', (code, signal) => {
      this.children.delete(name);
      if (this.stopping) return;
      const n = (this.restarts.get(name) ?? 0) + 1;
      this.restarts.set(name, n);
      const delayMs = Math.min(30_000, 500 * 2 ** Math.min(n, 6));
      this.log.warn({ name, code, signal, restartInMs: delayMs }, 'local agent exited; restarting');
      setTimeout(() => !this.stopping && this.spawn(name), delayMs).unref();
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.children.values()].map(
        (child) =>
          new Promise<void>((res) => {
            if (child.exitCode !== null || child.signalCode !== null) return res();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(kill);
              res();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
