import { describe, expect, it } from 'vitest';
import { silentLogger } from '../common/logger.ts';
import { StoreRetry } from './store-retry.ts';

function setup(max?: number) {
  const events: string[] = [];
  const r = new StoreRetry(silentLogger(), { failed: (n) => events.push(`failed:${n}`), recovered: () => events.push('ok') }, max);
  return { r, events };
}

describe('StoreRetry', () => {
  it('keeps a failed write, undoes its half-done effect, retries it in order, and reports recovery', async () => {
    const { r, events } = setup();
    let full = true;
    const rows: string[] = [];
    const write = (v: string) => () => {
      if (full) throw new Error('SQLITE_FULL');
      rows.push(v);
    };
    let undone = 0;
    expect(await r.run('node:a', write('a1'), () => undone++)).toBe(false);
    expect(await r.run(undefined, write('e1'))).toBe(false);
    // The newest write of a kept key replaces the old one (without trying the store again).
    expect(await r.run('node:a', write('a2'))).toBe(false);
    expect(undone).toBe(1);
    await r.retry();
    expect(r.size).toBe(2);
    full = false;
    await r.retry();
    expect(rows).toEqual(['a2', 'e1']);
    expect(r.size).toBe(0);
    expect(events).toEqual(['failed:1', 'failed:2', 'failed:2', 'ok']);
  });

  it('a write that goes through supersedes a kept write of its key asked for before it, never one asked for after it', async () => {
    const { r, events } = setup();
    const rows: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    // a delete in flight that the store refuses once the save behind it has been asked for
    const del = r.run('node:a', async () => {
      await gate;
      throw new Error('SQLITE_FULL');
    });
    const save = r.run('node:a', () => rows.push('save'));
    release();
    expect(await del).toBe(false);
    expect(await save).toBe(true);
    expect(r.size).toBe(0); // the kept delete is moot: the save came after it
    expect(events).toEqual(['failed:1', 'ok']);
    await r.retry();
    expect(rows).toEqual(['save']);

    // A kept write asked for after the one in flight stays kept (it carries newer state).
    let full = true;
    let slow!: () => void;
    const slowGate = new Promise<void>((res) => (slow = res));
    const first = r.run('node:b', async () => {
      await slowGate;
      rows.push('b1');
    });
    const failing = r.run('node:b', () => {
      if (full) throw new Error('SQLITE_FULL');
      rows.push('b2');
    });
    slow();
    expect(await first).toBe(true);
    expect(await failing).toBe(false);
    expect(r.size).toBe(1);
    full = false;
    await r.retry();
    expect(rows).toEqual(['save', 'b1', 'b2']);
    expect(r.size).toBe(0);
  });

  it('is bounded: past maxPending the oldest droppable rows are given up, keyed writes never', async () => {
    const { r } = setup(3);
    const fail = () => {
      throw new Error('SQLITE_FULL');
    };
    await r.run('node:a', fail);
    for (let i = 0; i < 10; i++) await r.run(undefined, fail);
    expect(r.size).toBe(3);
    expect(r.droppedWrites).toBe(8);
    r.forget('node:a');
    expect(r.size).toBe(2);
  });

  it('runs writes one after another in the order asked, the first at once (an embedded store writes before run returns)', async () => {
    const { r } = setup();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((res) => (release = res));
    void r.run(undefined, async () => {
      order.push('a:start');
      await gate;
      order.push('a:end');
    });
    expect(order).toEqual(['a:start']);
    void r.run(undefined, () => order.push('b'));
    const c = r.run(undefined, () => order.push('c'));
    expect(order).toEqual(['a:start']);
    release();
    expect(await c).toBe(true);
    await r.idle();
    expect(order).toEqual(['a:start', 'a:end', 'b', 'c']);
  });

  it('a newer write of a key that arrives while its older write is being retried is kept, and written by the next round', async () => {
    const { r, events } = setup();
    const stored: string[] = [];
    await r.run('node:x', () => {
      throw new Error('disk full');
    });
    // the kept write is now retried, and held half-way
    let release!: () => void;
    let started!: () => void;
    const held = new Promise<void>((res) => (release = res));
    const writing = new Promise<void>((res) => (started = res));
    (r as unknown as { pending: Map<string, { write: () => unknown }> }).pending.get('node:x')!.write = async () => {
      started();
      await held;
      stored.push('old');
    };
    const round = r.retry();
    await writing;
    expect(await r.run('node:x', () => stored.push('new'))).toBe(false); // kept: replaces the older entry
    release();
    await round;
    expect(stored).toEqual(['old']);
    expect(r.size).toBe(1);
    expect(events).not.toContain('ok');
    await r.retry();
    expect(stored).toEqual(['old', 'new']);
    expect(r.size).toBe(0);
    expect(events).toContain('ok');
  });
});
