/**
 * Test harness: a TFTP server on 127.0.0.1:0 over a temp root, with its own registry,
 * a fake node directory and a recording boot-event sink.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { Registry } from 'prom-client';
import { systemClock } from '../../../common/clock.ts';
import { silentLogger } from '../../../common/logger.ts';
import type { BootEvent } from '../../boot-event.ts';
import { NetbootConfigSchema, type NetbootConfig } from '../../config.ts';
import type { NodeDirectory } from '../../node-directory.ts';
import { startTftpServer, type TftpServer, type TftpServerOptions } from '../server.ts';

export function testConfig(input: Record<string, unknown>): NetbootConfig {
  // Defaults only: the formats (ipv4) are registered by the project's config loader.
  return Value.Default(NetbootConfigSchema, structuredClone(input)) as NetbootConfig;
}

/** The transfer engines; the important server tests run with each. */
export const ENGINES = ['js', 'native'] as const;

/** `opts` with `netboot.tftp.engine` set. */
export function withEngine(engine: (typeof ENGINES)[number], opts: HarnessOptions = {}): HarnessOptions {
  return { ...opts, tftp: { ...opts.tftp, engine } };
}

export const emptyDirectory: NodeDirectory = { findByMac: () => undefined, findBySerial: () => undefined };

export interface Harness {
  readonly server: TftpServer;
  readonly port: number;
  readonly root: string;
  readonly registry: Registry;
  readonly events: BootEvent[];
  /** Resolves with the first (past or future) boot event matching `pred`. */
  event(pred: (e: BootEvent) => boolean, timeoutMs?: number): Promise<BootEvent>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export type HarnessOptions = { tftp?: Record<string, unknown>; serverAddress?: string; directory?: NodeDirectory; root?: string } & TftpServerOptions;

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'picluster-tftp-'));
  const events: BootEvent[] = [];
  const waiters: { pred: (e: BootEvent) => boolean; resolve: (e: BootEvent) => void }[] = [];
  const registry = new Registry();
  const config = testConfig({
    interface: 'lo',
    serverAddress: opts.serverAddress ?? '127.0.0.1',
    tftpRoot: root,
    clients: 'any',
    // No worker threads unless a test asks (server-workers.test.ts): they cost start-up time.
    // The engine: PICLUSTER_TFTP_ENGINE (tests run the suite with each), else the default.
    tftp: { port: 0, workers: 0, ...(process.env.PICLUSTER_TFTP_ENGINE ? { engine: process.env.PICLUSTER_TFTP_ENGINE } : {}), ...opts.tftp },
  });
  const server = await startTftpServer(
    config,
    {
      log: silentLogger(),
      clock: systemClock,
      directory: opts.directory ?? emptyDirectory,
      registry,
      sink: (e) => {
        events.push(e);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.pred(e)) waiters.splice(i, 1)[0]!.resolve(e);
        }
      },
    },
    { ...(opts.wrapSocket ? { wrapSocket: opts.wrapSocket } : {}), ...(opts.timers ? { timers: opts.timers } : {}) },
  );
  return {
    server,
    port: server.ports.tftp!,
    root,
    registry,
    events,
    event(pred, timeoutMs = 20_000) {
      const past = events.find(pred);
      if (past) return Promise.resolve(past);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (e: BootEvent) => (clearTimeout(t), resolve(e)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching boot event within ${timeoutMs} ms; got ${JSON.stringify(events)}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async metric(name, labels) {
      const m = await registry.getSingleMetric(name)?.get();
      const v = m?.values.find((x) => Object.entries(labels ?? {}).every(([k, val]) => x.labels[k] === val));
      return v?.value ?? 0;
    },
    async close() {
      await server.close();
      if (!opts.root) rmSync(root, { recursive: true, force: true });
    },
  };
}
