/**
 * A fleet of virtual agents against one master: N agents named `<prefix>-<i>`, tokens derived
 * from the cluster secret (as the master derives them), connected `concurrency` at a time,
 * heartbeats from one timer for the whole fleet (each agent keeps its own phase and the
 * interval the welcome gave it), and counters for what happened.
 */
import { deriveNodeToken } from '../common/tokens.ts';
import { reconnectDelayMs, VirtualAgent } from './virtual-agent.ts';

export interface FleetOptions {
  /** The master's base URL, `http://host:port` (or `ws://…`); agents connect to `/agent`. */
  readonly url: string;
  readonly clusterSecret: string;
  readonly nodes: number;
  readonly prefix?: string;
  readonly slots?: number;
  readonly jobMs?: number;
  /** Connections opened at once while the fleet starts. */
  readonly concurrency?: number;
  /** Seed for the fleet's random numbers (health walks, boot ids, phases). */
  readonly seed?: number;
  /**
   * Give agent i its own loopback source address (127.20.0.1, 127.20.0.2, …), as if each node
   * had its own IP: the master's per-address limits (rate of `/agent` upgrades) then see N
   * clients, not one. Only for a master on loopback.
   */
  readonly spreadLoopback?: boolean;
  /** Called with the wall time (ms, sub-ms precision) each `assign` arrived. */
  readonly onAssign?: (jobId: number, at: number) => void;
}

export interface FleetStats {
  readonly nodes: number;
  readonly welcomed: number;
  readonly assigned: number;
  readonly acked: number;
  readonly refused: number;
  readonly closed: number;
  /** Connections reopened (with backoff) after the master closed them. */
  readonly reconnects: number;
  /** First connects retried (with backoff) after failing without a refusal. */
  readonly connectRetries: number;
}

export class Fleet {
  readonly agents: VirtualAgent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private assigned = 0;
  private acked = 0;
  private refused = 0;
  private closed = 0;
  private stopping = false;
  private connectRetries = 0;
  readonly refusals: string[] = [];

  constructor(private readonly o: FleetOptions) {
    const random = mulberry32(o.seed ?? 1);
    const base = o.url.replace(/^http/, 'ws').replace(/\/+$/, '');
    const url = base.endsWith('/agent') ? base : `${base}/agent`;
    const prefix = o.prefix ?? 'sim';
    const events = {
      assigned: (jobId: number) => {
        this.assigned++;
        o.onAssign?.(jobId, performance.timeOrigin + performance.now());
      },
      acked: () => void this.acked++,
      refused: (name: string, code: string, message: string) => {
        this.refused++;
        if (this.refusals.length < 20) this.refusals.push(`${name}: ${code} ${message}`);
      },
      closed: () => {
        if (!this.stopping) this.closed++;
      },
    };
    for (let i = 1; i <= o.nodes; i++) {
      const name = `${prefix}-${i}`;
      this.agents.push(
        new VirtualAgent({
          url,
          name,
          token: deriveNodeToken(o.clusterSecret, name),
          slots: o.slots ?? 1,
          jobMs: o.jobMs ?? 1000,
          mac: macOf(i),
          ...(o.spreadLoopback ? { localAddress: loopbackOf(i) } : {}),
          random,
          now: Date.now,
          events,
        }),
      );
    }
  }

  /** Connects every agent; resolves when all are welcomed (rejects on the first refusal or failure). */
  async start(): Promise<void> {
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const a of this.agents) a.heartbeat(now);
    }, 50);
    const queue = [...this.agents];
    const worker = async (): Promise<void> => {
      for (let a = queue.shift(); a; a = queue.shift()) await connectWithRetry(a, this.refusals.length);
    };
    // A connect that fails without a refusal (a loaded master's listen backlog: ETIMEDOUT,
    // ECONNRESET) is retried with backoff, 5 times; a refusal fails the start at once.
    const random = mulberry32((this.o.seed ?? 1) + 7);
    const connectWithRetry = async (a: VirtualAgent, refusalsBefore: number): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await a.connect();
        } catch (e) {
          if (attempt >= 5 || this.refusals.length > refusalsBefore || this.stopping) throw e;
          this.connectRetries++;
          await new Promise((r) => setTimeout(r, reconnectDelayMs(attempt, random)));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 64, queue.length) }, worker));
  }

  stats(): FleetStats {
    return {
      nodes: this.agents.length,
      welcomed: this.agents.filter((a) => a.welcomed).length,
      assigned: this.assigned,
      acked: this.acked,
      refused: this.refused,
      closed: this.closed,
      reconnects: this.agents.reduce((n, a) => n + a.reconnects, 0),
      connectRetries: this.connectRetries,
    };
  }

  stop(): void {
    this.stopping = true;
    clearInterval(this.timer);
    for (const a of this.agents) a.stop();
  }
}

/** Locally administered, unicast MACs: 02:5c:00:xx:xx:xx. */
export function macOf(i: number): string {
  const b = [(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff].map((x) => x.toString(16).padStart(2, '0'));
  return `02:5c:00:${b.join(':')}`;
}

/** The i-th (from 1) loopback address from 127.20.0.1 on, skipping .0 and .255. */
export function loopbackOf(i: number): string {
  const k = i - 1;
  return `127.${20 + Math.floor(k / (254 * 256))}.${Math.floor(k / 254) % 256}.${(k % 254) + 1}`;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same fleet. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
