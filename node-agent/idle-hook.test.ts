import { describe, expect, it } from 'vitest';
import { IdleHook, type IdleTimers } from './idle-hook.ts';

/** Timers the test fires itself. */
function manualTimers(): IdleTimers & { pending: Map<number, { fn: () => void; ms: number }>; fire(): void } {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  let next = 0;
  return {
    pending,
    set: (fn, ms) => {
      pending.set(++next, { fn, ms });
      return next;
    },
    clear: (h) => pending.delete(h as number),
    fire() {
      const all = [...pending.values()];
      pending.clear();
      for (const t of all) t.fn();
    },
  };
}

describe('IdleHook', () => {
  it('runs once no job has run for afterMs after the last one ended', () => {
    const timers = manualTimers();
    let runs = 0;
    const hook = new IdleHook(() => runs++, 60_000, timers);
    hook.started(1);
    hook.started(2);
    hook.finished(1);
    expect(timers.pending.size).toBe(0); // job 2 still runs
    hook.finished(2);
    expect([...timers.pending.values()].map((t) => t.ms)).toEqual([60_000]);
    expect(runs).toBe(0);
    timers.fire();
    expect(runs).toBe(1);
  });

  it('a job that starts within the linger cancels it; the next idle period starts over', () => {
    const timers = manualTimers();
    let runs = 0;
    const hook = new IdleHook(() => runs++, 60_000, timers);
    hook.started(1);
    hook.finished(1);
    hook.started(2);
    expect(timers.pending.size).toBe(0);
    timers.fire();
    expect(runs).toBe(0);
    hook.finished(2);
    expect(timers.pending.size).toBe(1);
    timers.fire();
    expect(runs).toBe(1);
  });

  it('flush() (the agent stops) runs a pending run at once, and nothing when none is pending', () => {
    const timers = manualTimers();
    let runs = 0;
    const hook = new IdleHook(() => runs++, 60_000, timers);
    hook.flush();
    expect(runs).toBe(0);
    hook.started(1);
    hook.finished(1);
    hook.flush();
    expect(runs).toBe(1);
    expect(timers.pending.size).toBe(0);
  });

  it('afterMs 0 runs at once; an unknown or repeated end does nothing; cancel drops a pending run', () => {
    const timers = manualTimers();
    let runs = 0;
    const now = new IdleHook(() => runs++, 0, timers);
    now.finished(9);
    expect(runs).toBe(0);
    now.started(1);
    now.finished(1);
    now.finished(1);
    expect(runs).toBe(1);
    const later = new IdleHook(() => runs++, 5000, timers);
    later.started(3);
    later.finished(3);
    later.cancel();
    expect(timers.pending.size).toBe(0);
  });
});
