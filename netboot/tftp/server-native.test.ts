/**
 * The native engine (native.ts, native/tftp/) where the JS engine's tests inject what the
 * addon cannot take (manual timers, a wrapped server socket): retransmits, the silent
 * end towards a source that never acknowledges, the timeout ERROR, duplicate ACKs, loss
 * (injected at the client, both directions), abort on close. Real UDP on loopback with
 * short retransmit timers; every wait is on a datagram or a boot event.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodePacket, encodePacket, type TftpPacket } from './codec.ts';
import { loadNative } from './native.ts';
import { tftpGet } from './testing/client.ts';
import { startHarness, withEngine, type Harness } from './testing/harness.ts';
import { makeLossy, makeLossyReceiver, seededRandom, type LossStats } from './testing/lossy-socket.ts';

let h: Harness | undefined;
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await h?.close();
  h = undefined;
});

async function client(): Promise<{ s: dgram.Socket; got: { p: TftpPacket; port: number }[] }> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const got: { p: TftpPacket; port: number }[] = [];
  s.on('message', (m, rinfo) => got.push({ p: decodePacket(m), port: rinfo.port }));
  return { s, got };
}

const ops = (got: { p: TftpPacket }[]): (string | number)[] => got.map((g) => (g.p.op === 'data' ? g.p.block : g.p.op));

describe('native engine', () => {
  it('is the default engine when the addon is built', async () => {
    // Built by `npm ci` (the root install script: node-gyp rebuild); `npm run install` rebuilds it.
    expect(loadNative().error, 'the native TFTP addon did not load: run `npm run install`').toBeUndefined();
    h = await startHarness({ tftp: { engine: undefined } });
    expect(h.server.engine).toBe('native');
  });

  it('ends silently after maxRetriesBeforeAck resends to a source that never acknowledges', async () => {
    h = await startHarness(withEngine('native', { tftp: { retransmitMs: 20, maxRetriesBeforeAck: 2 } }));
    writeFileSync(join(h.root, 'f'), randomBytes(100_000));
    const { s, got } = await client();
    s.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [{ name: 'windowsize', value: '16' }] }), h.port, '127.0.0.1');
    expect(await h.event(() => true)).toMatchObject({ outcome: 'no-ack', detail: { bytes: 0, retransmits: 2 } });
    await expect.poll(() => got.length).toBe(3);
    expect(ops(got)).toEqual(['oack', 'oack', 'oack']);
    expect(await h.metric('picluster_tftp_retransmits_total')).toBe(2);
    expect(h.server.activeTransfers()).toBe(0);
  });

  it('its threads sleep while waiting (no busy loop): a 300 ms no-ack transfer costs little CPU', async () => {
    h = await startHarness(withEngine('native', { tftp: { workers: 2, retransmitMs: 100, maxRetriesBeforeAck: 2 } }));
    writeFileSync(join(h.root, 'f'), randomBytes(1000));
    const { s } = await client();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    s.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), h.port, '127.0.0.1');
    expect(await h.event(() => true)).toMatchObject({ outcome: 'no-ack' });
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    expect(wallMs).toBeGreaterThanOrEqual(290);
    // Two spinning threads would burn ~2 × wall time.
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(wallMs / 2);
  });

  it('a client that acknowledged gets maxRetries retransmits, then a timeout ERROR', async () => {
    h = await startHarness(withEngine('native', { tftp: { retransmitMs: 20, maxRetries: 3, maxRetriesBeforeAck: 0 } }));
    writeFileSync(join(h.root, 'f'), randomBytes(2000));
    const { s, got } = await client();
    // ACK 1 at once (from the listener: a 20 ms timer leaves no time for polling).
    s.once('message', (_m, rinfo) => s.send(encodePacket({ op: 'ack', block: 1 }), rinfo.port, '127.0.0.1'));
    s.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), h.port, '127.0.0.1');
    expect(await h.event(() => true)).toMatchObject({ outcome: 'timeout', detail: { bytes: 512, retransmits: 3 } });
    await expect.poll(() => got.length).toBe(6);
    expect(ops(got)).toEqual([1, 2, 2, 2, 2, 'error']);
  });

  it('ignores duplicate and stale ACKs (no Sorcerer’s Apprentice)', async () => {
    h = await startHarness(withEngine('native', { tftp: { retransmitMs: 10_000 } }));
    writeFileSync(join(h.root, 'f'), randomBytes(1200));
    const { s, got } = await client();
    s.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), h.port, '127.0.0.1');
    await expect.poll(() => got.length).toBe(1);
    const port = got[0]!.port;
    for (const block of [1, 1, 0]) s.send(encodePacket({ op: 'ack', block }), port, '127.0.0.1');
    await expect.poll(() => got.length).toBe(2);
    s.send(encodePacket({ op: 'ack', block: 2 }), port, '127.0.0.1');
    await expect.poll(() => got.length).toBe(3);
    s.send(encodePacket({ op: 'ack', block: 3 }), port, '127.0.0.1');
    expect(await h.event(() => true)).toMatchObject({ outcome: 'complete', detail: { bytes: 1200, retransmits: 0 } });
    expect(ops(got)).toEqual([1, 2, 3]);
  });

  it.each([
    ['lock-step', 0.03, 1, 512, 21],
    ['windowed', 0.03, 8, 1468, 22],
    ['windowed', 0.03, 16, 1024, 23],
    ['windowed', 0.05, 8, 512, 24],
  ])('%s under %d loss both ways (windowsize %d, blksize %d, seed %d)', async (_kind, rate, windowsize, blksize, seed) => {
    const random = seededRandom(seed);
    const sent: LossStats = { sent: 0, dropped: 0 };
    const received: LossStats = { sent: 0, dropped: 0 };
    h = await startHarness(withEngine('native', { tftp: { retransmitMs: 15, maxRetries: 50 } }));
    const content = randomBytes(300_000);
    writeFileSync(join(h.root, 'f'), content);
    const done = h.event((e) => e.detail?.file === 'f');
    const r = await tftpGet({
      port: h.port,
      file: 'f',
      options: [{ name: 'blksize', value: String(blksize) }, ...(windowsize > 1 ? [{ name: 'windowsize', value: String(windowsize) }] : [])],
      timeoutMs: 40,
      maxRetries: 100,
      wrap: (s) => makeLossyReceiver(makeLossy(s, rate, random, sent), rate, random, received),
      dallyUntil: done,
    });
    expect(r.data.equals(content)).toBe(true);
    const e = await done;
    expect(e.outcome).toBe('complete');
    expect(sent.dropped + received.dropped).toBeGreaterThan(0);
    expect(e.detail?.retransmits).toBeGreaterThan(0);
    // No blow-up: a gap in a window restarts it (resending up to windowsize − 1 blocks that
    // were in flight), so a 16-block window at 3 % loss can come near one resend per block;
    // answering duplicates would grow without bound.
    expect(Number(e.detail?.retransmits)).toBeLessThan(2 * Math.ceil(content.length / blksize));
  });

  it('reports every one of 40 concurrent tiny transfers and frees their slots', async () => {
    h = await startHarness(withEngine('native', { tftp: { maxTransfersPerClient: 100 } }));
    writeFileSync(join(h.root, 'tiny'), Buffer.from('x'));
    const results = await Promise.all(Array.from({ length: 40 }, () => tftpGet({ port: h!.port, file: 'tiny' })));
    expect(results.every((r) => r.data.toString() === 'x')).toBe(true);
    await expect.poll(() => h!.events.filter((e) => e.outcome === 'complete').length).toBe(40);
    expect(h.server.activeTransfers()).toBe(0);
  });

  it('closing the server aborts a running transfer and reports it', async () => {
    h = await startHarness(withEngine('native'));
    writeFileSync(join(h.root, 'f'), randomBytes(300_000));
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), h.port, '127.0.0.1');
    const [, rinfo] = (await once(s, 'message', { signal: AbortSignal.timeout(5000) })) as [Buffer, dgram.RemoteInfo];
    s.send(encodePacket({ op: 'ack', block: 1 }), rinfo.port, '127.0.0.1');
    await once(s, 'message', { signal: AbortSignal.timeout(5000) });
    await h.close();
    expect(h.events.find((e) => e.outcome === 'aborted')).toMatchObject({ detail: { file: 'f', bytes: 512 } });
    expect(h.server.activeTransfers()).toBe(0);
    h = undefined;
  });
});

describe('native engine against odd input, as the JS engine', () => {
  // codec.ts reads an ERROR's message to its NUL or to the end of the datagram: both engines
  // end the transfer the same way for one without the NUL (the C path once dropped it as malformed)
  it.each([
    ['with its NUL', '00050001686900'],
    ['without its NUL', '000500016869'],
    ['with no message at all', '00050001'],
  ])('a client ERROR %s ends the transfer the same way on both engines', async (_what, hex) => {
    const ends: unknown[] = [];
    for (const engine of ['js', 'native'] as const) {
      h = await startHarness(withEngine(engine, { tftp: { retransmitMs: 10_000 } }));
      writeFileSync(join(h.root, 'f'), randomBytes(5000));
      const { s } = await client();
      s.once('message', (_m, rinfo) => s.send(Buffer.from(hex, 'hex'), rinfo.port, '127.0.0.1'));
      s.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), h.port, '127.0.0.1');
      const e = await h.event(() => true);
      ends.push({ outcome: e.outcome, reason: e.detail?.reason });
      expect(await h.metric('picluster_tftp_ignored_total')).toBe(0);
      await h.close();
      h = undefined;
    }
    expect(ends[1]).toEqual(ends[0]);
  });

  it('a closed engine handle refuses every call (it stays readable until JS drops it); a bad transfer id is a RangeError', async () => {
    const { addon } = loadNative();
    expect(addon).toBeDefined();
    const a = addon as unknown as {
      create(n: number, cb: () => void): object;
      abort(h: object, id: number, r: string): void;
      close(h: object): void;
    };
    const live = a.create(1, () => undefined);
    expect(() => a.abort(live, Number.NaN, 'x')).toThrow(/bad transfer id/);
    expect(() => a.abort(live, -1, 'x')).toThrow(/bad transfer id/);
    a.close(live);
    // the threadsafe function's finalizer runs on a later turn: the handle must outlive it
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(() => a.abort(live, 1, 'x')).toThrow(/engine closed/);
    expect(() => a.close(live)).toThrow(/engine closed/);
  });
});
