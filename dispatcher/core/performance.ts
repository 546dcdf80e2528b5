/**
 * Performance learning for the best-performance strategy: each group's mean duration (EWMA)
 * and each node's speed relative to it (domain/strategies.ts updatePerf).
 */
import { updatePerf } from '../domain/strategies.ts';
import type { RuntimeNode } from '../node-runtime.ts';

export class PerformanceLearning {
  private readonly groupDuration = new Map<string, number>();

  learn(node: RuntimeNode, group: string, durationMs: number): void {
    const avg = this.groupDuration.get(group);
    const d = Math.max(durationMs, 0.1);
    if (avg !== undefined && avg > 0) node.perf = updatePerf(node.perf, d / avg);
    this.groupDuration.set(group, updatePerf(avg, d, 0.1));
  }
}
