/// <reference lib="dom" />
/**
 * The browser end of `ws /ui`: a snapshot, then deltas, kept in one store that pages read.
 * Reconnects by itself with backoff (and resynchronises from a fresh snapshot); an invalid
 * token sends the user back to the login page. No polling.
 */
import type { NodePatch } from '../../http/ui-node-patches.ts';
import type { FeedItem, JobView, MinuteCount, NodeView, QueueInfo } from './types.ts';

export type LinkState = 'connecting' | 'live' | 'offline';

interface SnapshotFrame {
  type: 'snapshot';
  seq: number;
  role: string;
  serverTime: number;
  nodes: NodeView[];
  jobs: JobView[];
  counts: Record<string, number>;
  queue: QueueInfo;
  throughput: MinuteCount[];
  events: FeedItem[];
}

interface DeltaFrame {
  type: 'delta';
  seq: number;
  nodes?: NodeView[];
  /** Nodes whose dynamic fields changed (dispatcher/http/ui-node-patches.ts): applied over the row; null removes a field. */
  patches?: NodePatch[];
  jobs?: JobView[];
  counts?: Record<string, number>;
  queue?: QueueInfo;
  throughput?: MinuteCount[];
  events?: FeedItem[];
  /** Nodes that left the registry (removed, rejected, renamed by an approval). */
  removed?: string[];
  /** An alert was raised (re-read GET /api/alerts). */
  alerts?: boolean;
  output?: { jobId: number; chunks: { stream: 'stdout' | 'stderr'; data: string }[] };
}

export type OutputListener = (jobId: number, chunks: { stream: 'stdout' | 'stderr'; data: string }[]) => void;

const MAX_JOBS = 2000;
const MAX_EVENTS = 200;

export class LiveStore {
  nodes = new Map<string, NodeView>();
  jobs = new Map<number, JobView>();
  counts: Record<string, number> = {};
  queue: QueueInfo = { ready: 0, delayed: 0, byGroup: {} };
  throughput: MinuteCount[] = [];
  events: FeedItem[] = [];
  link: LinkState = 'connecting';
  /** Cursor: seq of the last frame applied. */
  seq = -1;
  /** Bumped on every change, so components can memoise on it. */
  version = 0;
  /** Bumped when the server says an alert was raised, and on every snapshot. */
  alertStamp = 0;
  private ws: WebSocket | undefined;
  private listeners = new Set<() => void>();
  private applyListeners = new Set<() => void>();
  private outputListeners = new Set<OutputListener>();
  private eventListeners = new Set<(items: FeedItem[]) => void>();
  private watching: number | undefined;
  private failures = 0;
  private retry: number | undefined;
  private closed = false;
  private notifyQueued = false;

  constructor(
    private readonly token: string,
    private readonly onUnauthorized: () => void,
  ) {}

  start(): void {
    this.closed = false;
    this.connect();
  }

  stop(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.ws?.close(1000, 'signed out');
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Runs `fn` right after every applied frame (not batched per animation frame, so it keeps
   * working in a background tab: the rolling reboot waits on it).
   */
  onApply(fn: () => void): () => void {
    this.applyListeners.add(fn);
    return () => this.applyListeners.delete(fn);
  }

  onOutput(fn: OutputListener): () => void {
    this.outputListeners.add(fn);
    return () => this.outputListeners.delete(fn);
  }

  onEvents(fn: (items: FeedItem[]) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  /** Streams one job's output (the job page); `undefined` stops. */
  watch(jobId: number | undefined): void {
    this.watching = jobId;
    this.sendFrame({ type: 'watch', jobId: jobId ?? null });
  }

  private sendFrame(frame: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private connect(): void {
    if (this.closed) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ui?token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    this.setLink('connecting');
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.failures = 0;
      this.apply(JSON.parse(String(ev.data)) as SnapshotFrame | DeltaFrame);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = undefined;
      if (this.closed) return;
      if (ev.code === 4401) {
        this.setLink('offline');
        this.onUnauthorized();
        return;
      }
      this.setLink('offline');
      const delay = Math.min(15_000, 500 * 2 ** Math.min(this.failures++, 5)) * (0.75 + Math.random() / 2);
      this.retry = window.setTimeout(() => this.connect(), delay);
    };
  }

  private setLink(s: LinkState): void {
    if (this.link === s) return;
    this.link = s;
    this.changed();
  }

  private apply(f: SnapshotFrame | DeltaFrame): void {
    if (f.type === 'snapshot') {
      this.nodes = new Map(f.nodes.map((n) => [n.name, n]));
      this.jobs = new Map(f.jobs.map((j) => [j.id, j]));
      this.counts = f.counts;
      this.queue = f.queue;
      this.throughput = f.throughput;
      this.events = f.events;
      this.seq = f.seq;
      this.link = 'live';
      this.alertStamp++;
      if (this.watching !== undefined) this.sendFrame({ type: 'watch', jobId: this.watching });
      this.changed();
      return;
    }
    this.seq = f.seq;
    for (const n of f.nodes ?? []) this.nodes.set(n.name, n);
    for (const p of f.patches ?? []) {
      const row = this.nodes.get(p.name);
      if (!row) continue;
      const next: Record<string, unknown> = { ...row };
      for (const [k, v] of Object.entries(p)) {
        if (v === null) delete next[k];
        else next[k] = v;
      }
      this.nodes.set(p.name, next as unknown as NodeView);
    }
    for (const name of f.removed ?? []) this.nodes.delete(name);
    if (f.alerts) this.alertStamp++;
    for (const j of f.jobs ?? []) this.jobs.set(j.id, j);
    if (this.jobs.size > MAX_JOBS) {
      const finished = [...this.jobs.values()].filter((j) => j.state !== 'running' && j.state !== 'queued').sort((a, b) => a.id - b.id);
      for (const j of finished.slice(0, this.jobs.size - MAX_JOBS)) this.jobs.delete(j.id);
    }
    if (f.counts) this.counts = f.counts;
    if (f.queue) this.queue = f.queue;
    if (f.throughput) this.throughput = f.throughput;
    if (f.events?.length) {
      this.events = [...[...f.events].reverse(), ...this.events].slice(0, MAX_EVENTS);
      for (const l of this.eventListeners) l(f.events);
    }
    if (f.output) for (const l of this.outputListeners) l(f.output.jobId, f.output.chunks);
    this.changed();
  }

  /** Listeners run once per animation frame at most, however many frames arrived. */
  private changed(): void {
    this.version++;
    for (const l of this.applyListeners) l();
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    requestAnimationFrame(() => {
      this.notifyQueued = false;
      for (const l of this.listeners) l();
    });
  }
}
