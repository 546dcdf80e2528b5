/**
 * Item 1 of issue 10: no frame ends the master. Each channel (a signed-in viewer on /ui, an admin
 * on /shell, an agent before and after hello) gets frames of every JSON type and near-misses; each
 * must be answered with a typed error frame (or dropped) and counted, and the channel must keep
 * working. Before the guard, `null` on /ui or /shell threw inside the ws message handler, which
 * ended the process (vitest reports it as an uncaught error and fails the file).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agent, ADMIN, helloFrame, HOSTILE_FRAMES, peer, startLiveMaster, VIEWER, type LiveMaster } from '../../fuzz/live-master.ts';
import { MemoryStore } from '../store/memory-store.ts';

let m: LiveMaster;
beforeEach(async () => {
  m = await startLiveMaster();
});
afterEach(async () => {
  await m.close();
});

const label = (f: string | Buffer) => (typeof f === 'string' ? f : `0x${f.toString('hex')}`);

describe('ws /ui as a signed-in viewer', () => {
  it.each(HOSTILE_FRAMES.map((f) => [label(f), f] as const))('%s gets an error frame, is counted, and the channel keeps working', async (_l, frame) => {
    const ui = await peer(`${m.wsUrl}/ui?token=${VIEWER}`);
    expect(await ui.next()).toMatchObject({ type: 'snapshot', role: 'viewer' });
    ui.send(frame);
    expect(await ui.next()).toMatchObject({ type: 'error', code: expect.stringMatching(/^(BAD_JSON|BAD_FRAME)$/) });
    ui.send(JSON.stringify({ type: 'resync' }));
    // The resync may be throttled (the snapshot was just sent); it still arrives.
    expect(await ui.until('snapshot')).toMatchObject({ role: 'viewer' });
    expect(await m.metrics()).toMatch(/picluster_input_dropped_total\{channel="ui",reason="BAD_(JSON|FRAME)"\} 1/);
    await ui.close();
  });

  it('refuses well-formed frames with wrong fields and oversized frames', async () => {
    const ui = await peer(`${m.wsUrl}/ui?token=${VIEWER}`);
    await ui.next();
    for (const f of [{ type: 'watch' }, { type: 'watch', jobId: {} }, { type: 'watch', jobId: -1 }, { type: 'watch', jobId: 1.5 }, { type: 'resync', x: 1 }]) {
      ui.send(JSON.stringify(f));
      expect(await ui.next()).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    }
    ui.send(JSON.stringify({ type: 'watch', jobId: 'x'.repeat(10_000) }));
    expect(await ui.next()).toMatchObject({ type: 'error', code: 'TOO_LARGE' });
    ui.send(JSON.stringify({ type: 'watch', jobId: null }));
    ui.send(JSON.stringify({ type: 'resync' }));
    expect(await ui.until('snapshot')).toMatchObject({ type: 'snapshot' });
    await ui.close();
  });
});

describe('ws /shell as an admin', () => {
  it.each(HOSTILE_FRAMES.map((f) => [label(f), f] as const))('%s gets an error frame and the session stays open', async (_l, frame) => {
    const node = await agent(m, 'n1');
    const shell = await peer(`${m.wsUrl}/shell?node=n1&token=${ADMIN}`);
    expect(await shell.next()).toMatchObject({ type: 'opened', node: 'n1' });
    const open = await node.until('shell-open');
    shell.send(frame);
    expect(await shell.next()).toMatchObject({ type: 'error', code: expect.stringMatching(/^(BAD_JSON|BAD_FRAME)$/) });
    for (const f of [{ type: 'input' }, { type: 'input', data: 5 }, { type: 'resize', cols: 0, rows: 5 }, { type: 'resize', cols: '80', rows: 24 }]) {
      shell.send(JSON.stringify(f));
      expect(await shell.next()).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    }
    shell.send(JSON.stringify({ type: 'input', data: 'ls\n' }));
    expect(await node.until('shell-input')).toEqual({ type: 'shell-input', sessionId: open.sessionId, data: 'ls\n' });
    expect(await m.metrics()).toMatch(/picluster_input_dropped_total\{channel="shell",reason="BAD_FRAME"\} [4-5]/);
    await shell.close();
    await node.close();
  });
});

describe('ws /agent', () => {
  it.each(HOSTILE_FRAMES.map((f) => [label(f), f] as const))(
    '%s before and after hello gets an error frame; the agent can still register and work',
    async (_l, frame) => {
      const a = await peer(`${m.wsUrl}/agent`);
      a.send(frame);
      expect(await a.next()).toMatchObject({ type: 'error' });
      a.send(helloFrame('n1'));
      expect(await a.next()).toMatchObject({ type: 'welcome', node: 'n1' });
      a.send(frame);
      expect(await a.next()).toMatchObject({ type: 'error' });
      const [job] = await m.dispatcher.submit([{ spec: { kind: 'exec', argv: ['true'] } }]);
      a.send(JSON.stringify({ type: 'pull', slots: 1 }));
      expect(await a.until('assign')).toMatchObject({ jobId: job!.id });
      await a.close();
    },
  );

  it('every frame type with a wrong body after hello is answered, never fatal', async () => {
    const a = await agent(m, 'n1');
    const bodies = [null, [], 1, 'x', {}, { attemptId: 'x' }, { slots: 1e12 }, { health: null, running: null }, { result: { attemptId: 1 } }];
    for (const type of ['hello', 'heartbeat', 'pull', 'output', 'result', 'event', 'shell-output', 'shell-exit', 'welcome', 'assign']) {
      for (const b of bodies) {
        a.send(JSON.stringify(typeof b === 'object' && b !== null && !Array.isArray(b) ? { type, ...b } : { type, body: b }));
        expect(await a.next()).toMatchObject({ type: 'error' });
      }
    }
    a.send(JSON.stringify({ type: 'heartbeat', health: {}, running: [] }));
    await expect.poll(() => m.dispatcher.getNode('n1').connected).toBe(true);
    await a.close();
  });
});

describe('store failures inside handlers', () => {
  it('an agent disconnect while the store refuses writes keeps the master up, retries, and reports', async () => {
    await m.close();
    let full = false;
    const store = new MemoryStore();
    const fail = <A extends unknown[], R>(fn: (...a: A) => R) =>
      ((...a: A) => {
        if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        return fn(...a);
      }) as (...a: A) => R;
    store.saveNode = fail(store.saveNode.bind(store));
    store.addNodeEvent = fail(store.addNodeEvent.bind(store));
    m = await startLiveMaster({ store });
    const health: boolean[] = [];
    m.dispatcher.on('storeHealth', (h) => health.push(h.ok));
    const a = await agent(m, 'n1');
    full = true;
    await a.close();
    await expect.poll(() => m.dispatcher.getNode('n1').connected).toBe(false);
    expect(m.dispatcher.pendingStoreWrites).toBeGreaterThan(0);
    expect(health).toContain(false);
    expect(await m.metrics()).toMatch(/picluster_store_pending_writes [1-9]/);
    m.dispatcher.tick();
    await m.dispatcher.idle();
    expect(m.dispatcher.pendingStoreWrites).toBeGreaterThan(0);
    full = false;
    m.dispatcher.tick();
    await m.dispatcher.idle();
    expect(m.dispatcher.pendingStoreWrites).toBe(0);
    expect(health.at(-1)).toBe(true);
    expect(store.listNodes().find((n) => n.name === 'n1')?.state).toBe(m.dispatcher.getNode('n1').state);
    expect(m.dispatcher.getNode('n1').state).toBe('suspect');
  });
});
