/**
 * Item 2 of issue 10: a valid node token speaks only for what the inventory says of the node.
 * Over real sockets: slots are never raised by an agent, MAC/serial claims are checked (refused +
 * identityMismatch event) and never adopted, and health reports are a closed, bounded schema.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { helloFrame, peer, startLiveMaster, type LiveMaster } from '../../fuzz/live-master.ts';

let m: LiveMaster | undefined;
afterEach(async () => {
  await m?.close();
  m = undefined;
});

async function hello(name: string, node: Record<string, unknown>) {
  const a = await peer(`${m!.wsUrl}/agent`);
  a.send(helloFrame(name, { node }));
  return { a, first: await a.next() };
}

describe('slots', () => {
  it('come from the admin/inventory; a CPU count lowers them; an unsized node is capped', async () => {
    m = await startLiveMaster({ limits: { unconfiguredSlotsCap: 3 } });
    m.dispatcher.addNode({ name: 'sized', slots: 2 });
    const sized = await hello('sized', { cpus: 64 });
    expect(sized.first).toMatchObject({ type: 'welcome', slots: 2 });
    const big = await hello('unsized', { cpus: 256 });
    expect(big.first).toMatchObject({ type: 'welcome', slots: 3 });
    // The agent's pull cannot exceed them either.
    m.dispatcher.submit(Array.from({ length: 10 }, () => ({ spec: { kind: 'exec' as const, argv: ['true'] } })));
    big.a.send(JSON.stringify({ type: 'pull', slots: 4096 }));
    await expect.poll(() => m!.dispatcher.runningOn('unsized').length).toBe(3);
    await sized.a.close();
    await big.a.close();
  });
});

describe('MAC and serial claims', () => {
  it('refuse a claim that contradicts the record or names another node, and never adopt one', async () => {
    m = await startLiveMaster();
    const mismatches: string[] = [];
    m.dispatcher.on('identityMismatch', (e) => mismatches.push(`${e.node}:${e.field}`));
    m.dispatcher.addNode({ name: 'n1', mac: 'aa:bb:cc:dd:ee:01', serial: '0000abcd' });
    const wrongMac = await hello('n1', { mac: 'aa:bb:cc:dd:ee:02' });
    expect(wrongMac.first).toMatchObject({ type: 'refused', code: 'IDENTITY_MISMATCH' });
    expect(await wrongMac.a.closed).toBe(4001);
    const stolenMac = await hello('n2', { mac: 'aa:bb:cc:dd:ee:01' });
    expect(stolenMac.first).toMatchObject({ type: 'refused', code: 'IDENTITY_MISMATCH' });
    const stolenSerial = await hello('n3', { serial: '0000ABCD' });
    expect(stolenSerial.first).toMatchObject({ type: 'refused', code: 'IDENTITY_MISMATCH' });
    expect(mismatches).toEqual(['n1:mac', 'n2:mac', 'n3:serial']);
    // An unowned claim is accepted but not recorded: netboot lookups and adding the real machine are unaffected.
    const claim = await hello('n4', { mac: 'aa:bb:cc:dd:ee:04', serial: '12345678' });
    expect(claim.first).toMatchObject({ type: 'welcome' });
    expect(m.dispatcher.nodeNameBy({ mac: 'aa:bb:cc:dd:ee:04' })).toBeUndefined();
    expect(m.dispatcher.nodeNameBy({ serial: '12345678' })).toBeUndefined();
    expect(m.dispatcher.addNode({ name: 'real', mac: 'aa:bb:cc:dd:ee:04' })).toMatchObject({ name: 'real' });
    const right = await hello('n1', { mac: 'AA:BB:CC:DD:EE:01', serial: '100000000000abcd' });
    expect(right.first).toMatchObject({ type: 'welcome' });
    await claim.a.close();
    await right.a.close();
  });
});

describe('health reports', () => {
  it.each([
    [{ load1: 0.5, extra: 'x'.repeat(1000) }, 'unknown field'],
    [{ temperatureC: 1e9 }, 'out of range'],
    [{ cpuPercent: -5 }, 'out of range'],
    [{ throttled: 2 ** 40 }, 'out of range'],
    [{ load1: 'high' }, 'wrong type'],
  ] as [Record<string, unknown>, string][])('%j (%s) is refused with an error frame and not stored', async (health) => {
    m = await startLiveMaster();
    const { a } = await hello('n1', {});
    a.send(JSON.stringify({ type: 'heartbeat', health, running: [] }));
    expect(await a.next()).toMatchObject({ type: 'error', code: 'BAD_MESSAGE' });
    a.send(JSON.stringify({ type: 'heartbeat', health: { load1: 0.25, temperatureC: 48.5 }, running: [] }));
    await expect.poll(() => m!.dispatcher.getNode('n1').health).toEqual({ load1: 0.25, temperatureC: 48.5 });
    await a.close();
  });
});
