/** Cluster-wide power limits: at most `maxConcurrentPowerOps` at once, power-ons staggered by `staggerMs` (inrush, TFTP storm). */
import type { Clock } from '../../common/clock.ts';
import type { PowerOpAction } from '../store/store.ts';

export class PowerLimiter {
  private readonly waiters: (() => void)[] = [];
  private active = 0;
  private lastPowerOnAt = 0;

  constructor(
    private readonly limits: { readonly maxConcurrentPowerOps: number; readonly staggerMs: number },
    private readonly clock: Clock,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  /** Waits for a free power slot (cluster-wide limit) and, for power-ons, the stagger gap; returns the release. */
  async acquire(action: PowerOpAction): Promise<() => void> {
    while (this.active >= this.limits.maxConcurrentPowerOps) await new Promise<void>((r) => this.waiters.push(r));
    this.active++;
    if (action !== 'off') {
      const wait = this.lastPowerOnAt + this.limits.staggerMs - this.clock.now();
      this.lastPowerOnAt = Math.max(this.clock.now(), this.lastPowerOnAt + this.limits.staggerMs);
      if (wait > 0) await this.sleep(wait);
    }
    return () => {
      this.active--;
      this.waiters.shift()?.();
    };
  }
}
