/**
 * Liveness (driven by the host's periodic tick): nodes silent past their deadline are lost
 * (attempts failed `node-lost`, link closed), orphaned attempts time out as `abandoned`,
 * retries whose backoff has passed are promoted, and a pump is asked for when one is due again.
 */
import { CloseCode } from '../../common/protocol.ts';
import { isConnectedState } from '../domain/nodes.ts';
import type { RuntimeNode } from '../node-runtime.ts';
import type { DispatcherContext } from './context.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { Results } from './results.ts';

export class Liveness {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly registry: NodeRegistry,
    private readonly results: Results,
  ) {}

  /** Called periodically by the host (every ~heartbeatMs/4): lost nodes, orphans, due retries. */
  tick(): void {
    const now = this.ctx.clock.now();
    void this.ctx.storeRetry.retry();
    if (this.ctx.retryPump) {
      this.ctx.retryPump = false;
      this.ctx.requestSchedule();
    }
    for (const node of this.registry.nodes.values()) {
      if (node.orphanDeadline !== undefined && now >= node.orphanDeadline) {
        node.orphanDeadline = undefined;
        const ids = [...node.orphans].filter((id) => node.running.has(id));
        node.orphans.clear();
        // Never started (assign lost in flight) or the agent restarted: not the job's fault.
        this.results.failAttempts(node, ids, 'abandoned', 'agent restarted without a result', now);
      }
      if (node.deadline !== undefined && now >= node.deadline) {
        if (isConnectedState(node.state) || node.state === 'suspect') this.markLost(node, now);
        else if (!node.link && node.running.size > 0) {
          // Held in another state (maintenance, rebooting, …) and silent: its jobs go elsewhere.
          node.deadline = undefined;
          this.results.failAttempts(node, [...node.running], 'node-lost', `no heartbeat while ${node.state}`, now);
        }
      }
    }
    if (this.ctx.queue.promoteDue(now) > 0) this.ctx.requestSchedule();
  }

  private markLost(node: RuntimeNode, now: number): void {
    node.deadline = undefined;
    const silentMs = now - (node.record.lastSeenAt ?? now);
    this.registry.setState(node, 'lost', `no heartbeat for ${silentMs} ms`, 'system');
    this.results.failAttempts(node, [...node.running], 'node-lost', 'node-lost', now);
    if (node.link) {
      node.link.close(CloseCode.lost, 'node declared lost');
      node.link = undefined;
      node.credits = 0;
    }
    this.registry.persistNode(node, now);
    this.ctx.emit('node', node.view());
  }
}
