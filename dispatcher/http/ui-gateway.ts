/**
 * `ws /ui?token=…`: the web UI's one live channel. Each browser gets a snapshot, then deltas
 * built from Dispatcher events — never polled. Any number of browsers may connect at once;
 * each has its own cursor (the `seq` of the last frame it got). Changes are coalesced for
 * `flushMs` (a node heartbeating every 2 s is one row update per flush, not a frame each) and
 * serialised once for everyone; a browser that falls behind (its socket buffer is full) is
 * skipped and, once it has drained, resynchronised with a fresh snapshot instead of an
 * ever-growing backlog. Job output is sent only to browsers watching that job.
 *
 * Browser → server frames (dispatcher/http/ws-frames.ts): `{type:'watch', jobId}` (stream this
 * job's output; `null` stops), `{type:'resync'}` (send a snapshot; at most one per `resyncMinMs`,
 * a resync asked sooner is sent when that time is up). Any other frame gets
 * `{type:'error', code, message}` and is counted; no frame ends the master (dispatcher/guard.ts).
 *
 * Node rows: a node whose static part changed (hello, labels…) goes out whole, one that changed
 * only state, running jobs, counters or health goes out as a `patches` entry (its dynamic
 * fields), and health alone is held back per node when the cluster is large
 * (ui-node-patches.ts: at most `healthPerSecond` a second). Rows leave out `identity`.
 *
 * Besides nodes, jobs, events and output, a delta may carry `removed: [name…]` (nodes that left
 * the registry: removed, rejected, or renamed by an approval; see `nodeRemoved`) and
 * `alerts: true` when an alert was raised (the browser re-reads `GET /api/alerts`).
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import type { Logger } from '../../common/logger.ts';
import type { Dispatcher } from '../dispatcher.ts';
import type { Job } from '../domain/jobs.ts';
import type { NodeEvent } from '../domain/nodes.ts';
import type { BootEvent } from '../../netboot/boot-event.ts';
import type { FeedItem, UiHistory } from '../ui/history.ts';
import type { NodeView } from '../views.ts';
import { bearer, roleOf, type AuthSettings, type Role } from './auth.ts';
import { jobSummaryView } from './serialize.ts';
import { dropInput, guarded } from '../guard.ts';
import { frameBytes, parseUiFrame } from './ws-frames.ts';
import { NodePatcher } from './ui-node-patches.ts';

/** Close codes the UI client understands. */
export const UiCloseCode = { unauthorized: 4401, shutdown: 4503 } as const;

export interface UiGatewayOptions {
  readonly flushMs?: number;
  /** A browser whose socket holds more than this is behind: skipped, then resynchronised. */
  readonly maxBufferedBytes?: number;
  readonly pingMs?: number;
  /** Jobs in a snapshot besides the running ones. */
  readonly recentJobs?: number;
  /** Where alerts are raised (the master's NodeLifecycle): each one is pushed as `alerts: true`. */
  readonly alertSource?: AlertSource;
  /** Snapshots a browser may ask for (`resync`) at most this often; default 1 s. */
  readonly resyncMinMs?: number;
  /** Health-only node updates sent per second at most, over the whole cluster (ui-node-patches.ts); default 1000. */
  readonly healthPerSecond?: number;
}

/** The part of NodeLifecycle the gateway listens to. */
export interface AlertSource {
  on(event: 'alert', listener: (alert: unknown) => void): unknown;
  off(event: 'alert', listener: (alert: unknown) => void): unknown;
}

interface Client {
  readonly socket: WebSocket;
  readonly role: Role;
  /** Seq of the last frame this browser got. */
  cursor: number;
  behind: boolean;
  watching: number | undefined;
  alive: boolean;
  lastSnapshotAt: number;
  resyncTimer: NodeJS.Timeout | undefined;
}

interface Batch {
  nodes: Map<string, NodeView>;
  jobs: Map<number, Job>;
  events: FeedItem[];
  output: Map<number, { stream: 'stdout' | 'stderr'; data: string }[]>;
  removed: Set<string>;
  finished: boolean;
  alerts: boolean;
}

const emptyBatch = (): Batch => ({ nodes: new Map(), jobs: new Map(), events: [], output: new Map(), removed: new Set(), finished: false, alerts: false });

export class UiGateway {
  private readonly clients = new Set<Client>();
  private batch = emptyBatch();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private readonly flushMs: number;
  private readonly maxBuffered: number;
  private readonly detach: () => void;
  private readonly patcher: NodePatcher;
  /** Health-only node changes held back by the patcher, offered again on the next flush. */
  private deferred = new Map<string, NodeView>();

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly history: UiHistory,
    private readonly log: Logger,
    private readonly options: UiGatewayOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 200;
    this.maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.patcher = new NodePatcher(options.healthPerSecond ?? 1000);
    const onNode = (n: NodeView) =>
      this.add((b) => {
        b.nodes.set(n.name, uiRow(n));
        b.removed.delete(n.name);
        this.deferred.delete(n.name);
      });
    const onJob = (j: Job) =>
      this.add((b) => {
        b.jobs.set(j.id, j);
        if (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled') b.finished = true;
      });
    const onNodeEvent = (e: NodeEvent) => this.add((b) => b.events.push({ type: 'node', ...e }));
    const onBoot = (e: BootEvent) => this.add((b) => b.events.push({ type: 'boot', ...e }));
    const onOutput = (c: { jobId: number; stream: 'stdout' | 'stderr'; data: string }) => {
      if (![...this.clients].some((x) => x.watching === c.jobId)) return;
      this.add((b) => {
        const list = b.output.get(c.jobId) ?? [];
        list.push({ stream: c.stream, data: c.data });
        b.output.set(c.jobId, list);
      });
    };
    dispatcher.on('node', onNode);
    dispatcher.on('job', onJob);
    dispatcher.on('nodeEvent', onNodeEvent);
    dispatcher.on('bootEvent', onBoot);
    dispatcher.on('output', onOutput);
    const onAlert = () => this.add((b) => (b.alerts = true));
    options.alertSource?.on('alert', onAlert);
    this.detach = () => {
      options.alertSource?.off('alert', onAlert);
      dispatcher.off('node', onNode);
      dispatcher.off('job', onJob);
      dispatcher.off('nodeEvent', onNodeEvent);
      dispatcher.off('bootEvent', onBoot);
      dispatcher.off('output', onOutput);
    };
  }

  /**
   * A node left the registry. The Dispatcher emits no event for that (removeNode, or an approval
   * under a new name drops the pending entry), so the UI plugin reports successful
   * `DELETE /api/nodes/:name` and renaming approvals here.
   */
  nodeRemoved(name: string): void {
    this.add((b) => {
      b.nodes.delete(name);
      b.removed.add(name);
    });
    this.deferred.delete(name);
    this.patcher.forget(name);
  }

  get size(): number {
    return this.clients.size;
  }

  register(app: FastifyInstance, auth: AuthSettings): void {
    app.get('/ui', { websocket: true, schema: { hide: true } }, (socket: WebSocket, req) => {
      const role = roleOf(bearer(req), auth);
      if (!role) {
        socket.close(UiCloseCode.unauthorized, 'a valid token is required (?token=)');
        return;
      }
      this.connect(socket, role);
    });
    app.addHook('onClose', async () => this.close());
  }

  connect(socket: WebSocket, role: Role): void {
    const client: Client = { socket, role, cursor: 0, behind: false, watching: undefined, alive: true, lastSnapshotAt: 0, resyncTimer: undefined };
    this.clients.add(client);
    this.ensurePing();
    const guard = <A extends unknown[]>(what: string, fn: (...a: A) => void) => guarded(this.dispatcher, this.log, 'ui', what, fn);
    socket.on(
      'pong',
      guard('pong', () => (client.alive = true)),
    );
    socket.on(
      'message',
      guard('message', (raw: unknown) => this.onMessage(client, raw)),
    );
    socket.on(
      'close',
      guard('close', () => {
        clearTimeout(client.resyncTimer);
        this.clients.delete(client);
      }),
    );
    socket.on(
      'error',
      guard('error', (err: Error) => this.log.debug({ err }, 'ui socket error')),
    );
    guard('snapshot', () => this.sendSnapshot(client))();
  }

  private onMessage(client: Client, raw: unknown): void {
    const parsed = parseUiFrame(frameBytes(raw));
    if (!parsed.ok) {
      dropInput(this.dispatcher, 'ui', parsed.code);
      this.log.debug({ code: parsed.code, message: parsed.message }, 'ui frame dropped');
      if (client.socket.readyState === client.socket.OPEN) client.socket.send(JSON.stringify({ type: 'error', code: parsed.code, message: parsed.message }));
      return;
    }
    const m = parsed.frame;
    if (m.type === 'watch') {
      client.watching = m.jobId ?? undefined;
      return;
    }
    // resync: throttled per browser; one asked too soon is sent when the interval is up.
    const minMs = this.options.resyncMinMs ?? 1000;
    const waitMs = client.lastSnapshotAt + minMs - Date.now();
    if (waitMs <= 0) return void this.sendSnapshot(client);
    if (client.resyncTimer) {
      dropInput(this.dispatcher, 'ui', 'RESYNC_THROTTLED');
      return;
    }
    client.resyncTimer = setTimeout(
      guarded(this.dispatcher, this.log, 'timer', 'ui resync', () => {
        client.resyncTimer = undefined;
        return this.sendSnapshot(client);
      }),
      waitMs,
    );
  }

  async snapshot(role: Role): Promise<Record<string, unknown>> {
    const [running, recent, o] = await Promise.all([
      this.dispatcher.listJobs({ state: 'running', limit: 1000 }),
      this.dispatcher.listJobs({ limit: this.options.recentJobs ?? 100 }),
      this.dispatcher.overview(),
    ]);
    const jobs = new Map<number, Job>();
    for (const j of [...running.jobs, ...recent.jobs]) jobs.set(j.id, j);
    return {
      type: 'snapshot',
      seq: this.seq,
      role,
      serverTime: Date.now(),
      nodes: this.dispatcher.listNodes().map(uiRow),
      jobs: [...jobs.values()].map(jobSummaryView),
      counts: o.jobs,
      queue: o.queue,
      staleResults: o.staleResults,
      strategy: o.strategy,
      throughput: this.history.throughput(),
      events: this.history.recentEvents(50),
    };
  }

  private async sendSnapshot(client: Client): Promise<void> {
    if (client.socket.readyState !== client.socket.OPEN) return;
    if (client.socket.bufferedAmount > this.maxBuffered) {
      // Not reading: no snapshot piles up on top; flush() resyncs it once it has drained.
      client.behind = true;
      dropInput(this.dispatcher, 'ui', 'BACKPRESSURE');
      this.flushTimer ??= setTimeout(this.guardedFlush, Math.max(this.flushMs, 500));
      return;
    }
    client.behind = false;
    client.cursor = this.seq;
    client.lastSnapshotAt = Date.now();
    const snapshot = await this.snapshot(client.role);
    if (client.socket.readyState === client.socket.OPEN) client.socket.send(JSON.stringify(snapshot));
  }

  private add(fn: (b: Batch) => void): void {
    if (this.clients.size === 0) return;
    fn(this.batch);
    this.flushTimer ??= setTimeout(this.guardedFlush, this.flushMs);
  }

  /**
   * Sends the coalesced batch to every browser that keeps up; resyncs the ones that caught up.
   * One flush at a time: a flush awaits the job counts, and a second one started meanwhile would
   * send newer rows first and then be overtaken by the older ones (it runs after, instead).
   */
  flush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      try {
        for (let i = 0; i === 0 || (this.flushAgain && i < 1000); i++) {
          this.flushAgain = false;
          await this.flushOnce();
        }
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    this.flushTimer = undefined;
    const b = this.batch;
    this.batch = emptyBatch();
    if (this.clients.size === 0) return;
    // Read before the batch is numbered: the deltas go out in seq order.
    const o = b.jobs.size ? await this.dispatcher.overview() : undefined;
    this.seq++;
    const base: Record<string, unknown> = { type: 'delta', seq: this.seq };
    for (const [name, v] of this.deferred) if (!b.nodes.has(name) && !b.removed.has(name)) b.nodes.set(name, v);
    const rows = this.patcher.rows(b.nodes.values(), Date.now());
    this.deferred = new Map(rows.deferred.map((v) => [v.name, v]));
    if (rows.full.length) base.nodes = rows.full;
    if (rows.patches.length) base.patches = rows.patches;
    if (b.removed.size) base.removed = [...b.removed];
    if (b.alerts) base.alerts = true;
    if (b.jobs.size) {
      base.jobs = [...b.jobs.values()].map(jobSummaryView);
      base.counts = o!.jobs;
      base.queue = o!.queue;
    }
    if (b.events.length) base.events = b.events;
    if (b.finished) base.throughput = this.history.throughput();
    const shared = JSON.stringify(base);
    let behind = false;
    for (const c of this.clients) {
      if (c.socket.readyState !== c.socket.OPEN) continue;
      if (c.socket.bufferedAmount > this.maxBuffered) {
        c.behind = true;
        behind = true;
        continue;
      }
      if (c.behind) {
        void this.sendSnapshot(c);
        continue;
      }
      const out = c.watching !== undefined ? b.output.get(c.watching) : undefined;
      c.socket.send(out ? JSON.stringify({ ...base, output: { jobId: c.watching, chunks: out } }) : shared);
      c.cursor = this.seq;
    }
    // Someone is behind: look again soon even if nothing else happens, to resync them.
    if (behind) this.flushTimer ??= setTimeout(this.guardedFlush, Math.max(this.flushMs, 500));
    // Held-back health goes out later even if nothing else happens.
    if (this.deferred.size) this.flushTimer ??= setTimeout(this.guardedFlush, Math.max(this.flushMs, 1000));
  }

  private readonly guardedFlush = (): void =>
    guarded(this.dispatcher, this.log, 'timer', 'ui flush', () => {
      this.flushTimer = undefined;
      return this.flush();
    })();

  private ensurePing(): void {
    if (this.pingTimer) return;
    this.pingTimer = setInterval(
      guarded(this.dispatcher, this.log, 'timer', 'ui ping', () => {
        for (const c of this.clients) {
          if (!c.alive) {
            c.socket.terminate();
            this.clients.delete(c);
            continue;
          }
          c.alive = false;
          if (c.socket.readyState === c.socket.OPEN) c.socket.ping();
        }
        if (this.clients.size === 0) {
          clearInterval(this.pingTimer);
          this.pingTimer = undefined;
        }
      }),
      this.options.pingMs ?? 30_000,
    );
    this.pingTimer.unref();
  }

  close(): void {
    this.detach();
    clearTimeout(this.flushTimer);
    clearInterval(this.pingTimer);
    for (const c of this.clients) {
      clearTimeout(c.resyncTimer);
      if (c.socket.readyState === c.socket.OPEN) c.socket.close(UiCloseCode.shutdown, 'master shutting down');
    }
    this.clients.clear();
  }
}

/** A node row as browsers get it: the view without `identity` (the UI shows its fields, which the view also carries). */
function uiRow(n: NodeView): NodeView {
  if (!n.identity) return n;
  const { identity: _identity, ...row } = n;
  return row;
}
