/**
 * Node-selection strategies: when several nodes could take a job, which one gets it.
 * Each is a small object with state of its own (a cursor, an RNG); none does I/O.
 */
import type { StrategyName } from '../../common/config.ts';
import type { NodeTraits } from './requirements.ts';

export interface Candidate extends NodeTraits {
  /** Slots the node can still take right now (credits and slots both allow it). */
  free: number;
  /** Attempts running on it now. */
  running: number;
  readonly slots: number;
  /** When it was last handed a job (0 = never). */
  lastAssignedAt: number;
  /** EWMA of normalised durations (1 = cluster average, lower = faster); undefined = no data yet. */
  readonly perf?: number;
  /** Health derating factor ≥ 1 (1 = healthy); the Dispatcher computes it from temperature/throttling. */
  readonly derate: number;
  /** For weighted-random: the node's weight (defaults to its slots). */
  readonly weight?: number;
}

export interface Strategy {
  readonly name: StrategyName;
  /** Picks one of `eligible` (non-empty, every one with free > 0). */
  pick(eligible: readonly Candidate[], now: number): Candidate;
}

/** Cycles through nodes in name order, continuing after the one picked last. */
export class RoundRobinStrategy implements Strategy {
  readonly name = 'round-robin';
  private last: string | undefined;
  pick(eligible: readonly Candidate[]): Candidate {
    let best: Candidate | undefined;
    let first: Candidate | undefined;
    for (const c of eligible) {
      if (!first || c.name < first.name) first = c;
      if (this.last !== undefined && c.name > this.last && (!best || c.name < best.name)) best = c;
    }
    const chosen = best ?? first!;
    this.last = chosen.name;
    return chosen;
  }
}

/** Picks at random, in proportion to weight (default: slots) divided by health derating. */
export class WeightedRandomStrategy implements Strategy {
  readonly name = 'weighted-random';
  constructor(private readonly random: () => number = Math.random) {}
  pick(eligible: readonly Candidate[]): Candidate {
    const weights = eligible.map((c) => Math.max(0, (c.weight ?? c.slots) / c.derate));
    const total = weights.reduce((a, b) => a + b, 0);
    if (total <= 0) return eligible[0]!;
    let r = this.random() * total;
    for (let i = 0; i < eligible.length; i++) {
      r -= weights[i]!;
      if (r < 0) return eligible[i]!;
    }
    return eligible[eligible.length - 1]!;
  }
}

/** Fewest running attempts relative to slots; ties by fewer running, then name. */
export class LeastConnectionsStrategy implements Strategy {
  readonly name = 'least-connections';
  pick(eligible: readonly Candidate[]): Candidate {
    return minBy(eligible, (c) => [c.running / Math.max(1, c.slots), c.running]);
  }
}

/**
 * Fastest node first: lowest EWMA of normalised job durations, multiplied by the health
 * derating (a throttled or hot Pi looks slower than it measured). Nodes with no data yet
 * score 1 (average) so they get measured.
 */
export class BestPerformanceStrategy implements Strategy {
  readonly name = 'best-performance';
  pick(eligible: readonly Candidate[]): Candidate {
    return minBy(eligible, (c) => [(c.perf ?? 1) * c.derate, c.running / Math.max(1, c.slots)]);
  }
}

/** The node that was handed work longest ago (never = first). */
export class LeastRecentStrategy implements Strategy {
  readonly name = 'least-recent';
  pick(eligible: readonly Candidate[]): Candidate {
    return minBy(eligible, (c) => [c.lastAssignedAt]);
  }
}

function minBy(items: readonly Candidate[], key: (c: Candidate) => number[]): Candidate {
  let best = items[0]!;
  let bestKey = key(best);
  for (let i = 1; i < items.length; i++) {
    const c = items[i]!;
    const k = key(c);
    if (lessThan(k, bestKey) || (equal(k, bestKey) && c.name < best.name)) {
      best = c;
      bestKey = k;
    }
  }
  return best;
}

const lessThan = (a: number[], b: number[]): boolean => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
};
const equal = (a: number[], b: number[]): boolean => a.every((x, i) => x === b[i]);

export function createStrategy(name: StrategyName, random: () => number = Math.random): Strategy {
  switch (name) {
    case 'round-robin':
      return new RoundRobinStrategy();
    case 'weighted-random':
      return new WeightedRandomStrategy(random);
    case 'least-connections':
      return new LeastConnectionsStrategy();
    case 'best-performance':
      return new BestPerformanceStrategy();
    case 'least-recent':
      return new LeastRecentStrategy();
  }
}

/** EWMA update of a node's normalised duration. */
export function updatePerf(previous: number | undefined, sample: number, alpha = 0.3): number {
  return previous === undefined ? sample : alpha * sample + (1 - alpha) * previous;
}
