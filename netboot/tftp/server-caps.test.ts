/**
 * Unauthenticated work is bounded (issue 10): per-client and total transfer caps, bounded
 * retransmits, and no amplification towards a source that never acknowledged. Real UDP on
 * loopback; the server's retransmit timers are a manual clock, so nothing sleeps.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodePacket, encodePacket, type TftpOption, type TftpPacket } from './codec.ts';
import { tftpGet } from './testing/client.ts';
import { startHarness, type Harness } from './testing/harness.ts';
import { ManualTimers } from './testing/manual-timers.ts';

let h: Harness | undefined;
const sockets: dgram.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await h?.close();
  h = undefined;
});

/** A raw client socket (optionally bound to another loopback address) recording replies. */
async function client(address = '127.0.0.1'): Promise<{ s: dgram.Socket; got: { p: TftpPacket; port: number }[] }> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, address, r));
  const got: { p: TftpPacket; port: number }[] = [];
  s.on('message', (m, rinfo) => got.push({ p: decodePacket(m), port: rinfo.port }));
  return { s, got };
}

function rrq(s: dgram.Socket, port: number, file: string, options: TftpOption[] = []): void {
  s.send(encodePacket({ op: 'rrq', filename: file, mode: 'octet', options }), port, '127.0.0.1');
}

const big = [
  { name: 'tsize', value: '0' },
  { name: 'blksize', value: '1468' },
  { name: 'windowsize', value: '16' },
];

describe('no amplification towards a source that never acknowledges', () => {
  it.each([
    ['with options: only the OACK, resent maxRetriesBeforeAck times', big, 'oack'],
    ['without options: only DATA 1, resent maxRetriesBeforeAck times', [], 'data'],
  ])('%s', async (_name, options, op) => {
    const timers = new ManualTimers();
    h = await startHarness({ timers: timers.start, tftp: { maxRetries: 5, maxRetriesBeforeAck: 2 } });
    writeFileSync(join(h.root, 'kernel.img'), randomBytes(200_000));
    const { s, got } = await client();
    rrq(s, h.port, 'kernel.img', options);
    await expect.poll(() => got.length).toBe(1);
    for (let i = 2; i <= 3; i++) {
      timers.fireAll();
      await expect.poll(() => got.length).toBe(i);
    }
    timers.fireAll(); // the third timeout ends it, silently
    const e = await h.event(() => true);
    expect(e).toMatchObject({ outcome: 'no-ack', detail: { file: 'kernel.img', bytes: 0, retransmits: 2 } });
    expect(timers.pending).toBe(0);
    timers.fireAll();
    expect(got.map((g) => g.p.op)).toEqual([op, op, op]); // no window, no ERROR
    if (op === 'data') expect(got.every((g) => g.p.op === 'data' && g.p.block === 1)).toBe(true);
    expect(await h.metric('picluster_tftp_transfers_total', { outcome: 'no-ack' })).toBe(1);
    expect(await h.metric('picluster_tftp_retransmits_total')).toBe(2);
    expect(await h.metric('picluster_tftp_active_transfers')).toBe(0);
  });

  it('a client that acknowledged gets maxRetries retransmits and a timeout ERROR', async () => {
    const timers = new ManualTimers();
    h = await startHarness({ timers: timers.start, tftp: { maxRetries: 3, maxRetriesBeforeAck: 0 } });
    writeFileSync(join(h.root, 'f'), randomBytes(2000));
    const { s, got } = await client();
    rrq(s, h.port, 'f');
    await expect.poll(() => got.length).toBe(1);
    s.send(encodePacket({ op: 'ack', block: 1 }), got[0]!.port, '127.0.0.1');
    await expect.poll(() => got.length).toBe(2);
    for (let i = 0; i < 3; i++) {
      timers.fireAll();
      await expect.poll(() => got.length).toBe(3 + i);
    }
    timers.fireAll();
    expect(await h.event(() => true)).toMatchObject({ outcome: 'timeout', detail: { bytes: 512, retransmits: 3 } });
    await expect.poll(() => got.length).toBe(6);
    expect(got.map((g) => (g.p.op === 'data' ? g.p.block : g.p.op))).toEqual([1, 2, 2, 2, 2, 'error']);
  });

  it('after ACK 0 the granted window goes out in full', async () => {
    const timers = new ManualTimers();
    h = await startHarness({ timers: timers.start });
    writeFileSync(join(h.root, 'f'), randomBytes(100_000));
    const { s, got } = await client();
    rrq(s, h.port, 'f', big);
    await expect.poll(() => got.length).toBe(1);
    s.send(encodePacket({ op: 'ack', block: 0 }), got[0]!.port, '127.0.0.1');
    await expect.poll(() => got.length).toBe(17);
    s.send(encodePacket({ op: 'error', code: 0, message: 'done' }), got[0]!.port, '127.0.0.1');
    expect(await h.event(() => true)).toMatchObject({ outcome: 'probe' });
  });
});

describe('transfer caps', () => {
  const errorOf = (g: { p: TftpPacket }[]): unknown => g.find((x) => x.p.op === 'error')?.p;

  it('refuses a client over its per-client cap, admits other clients, and frees the slot when a transfer ends', async () => {
    const timers = new ManualTimers();
    h = await startHarness({ timers: timers.start, tftp: { maxTransfersPerClient: 2, maxTransfers: 10 } });
    writeFileSync(join(h.root, 'f'), randomBytes(5000));
    const a = await client();
    const b = await client();
    rrq(a.s, h.port, 'f');
    rrq(b.s, h.port, 'f');
    await expect.poll(() => a.got.length + b.got.length).toBe(2);
    expect(h.server.activeTransfers()).toBe(2);
    const c = await client();
    rrq(c.s, h.port, 'f');
    await expect.poll(() => c.got.length).toBe(1);
    expect(errorOf(c.got)).toEqual({ op: 'error', code: 0, message: 'too many transfers from this client' });
    expect(await h.metric('picluster_tftp_admission_refused_total', { reason: 'client-busy' })).toBe(1);
    expect(h.events).toEqual([]); // refusals write no boot events
    const other = await client('127.0.0.2');
    rrq(other.s, h.port, 'f');
    await expect.poll(() => other.got.length).toBe(1);
    expect(other.got[0]!.p).toMatchObject({ op: 'data', block: 1 });
    expect(await h.metric('picluster_tftp_active_transfers')).toBe(3);
    // One of 127.0.0.1's transfers ends: its slot is free again.
    a.s.send(encodePacket({ op: 'error', code: 0, message: 'Early terminate' }), a.got[0]!.port, '127.0.0.1');
    await h.event((e) => e.outcome === 'probe');
    const d = await client();
    rrq(d.s, h.port, 'f');
    await expect.poll(() => d.got.length).toBe(1);
    expect(d.got[0]!.p).toMatchObject({ op: 'data', block: 1 });
  });

  it('refuses everyone over the total cap with "server busy"', async () => {
    const timers = new ManualTimers();
    h = await startHarness({ timers: timers.start, tftp: { maxTransfersPerClient: 5, maxTransfers: 2 } });
    writeFileSync(join(h.root, 'f'), randomBytes(5000));
    const one = await client('127.0.0.1');
    const two = await client('127.0.0.2');
    rrq(one.s, h.port, 'f');
    rrq(two.s, h.port, 'f');
    await expect.poll(() => one.got.length + two.got.length).toBe(2);
    const three = await client('127.0.0.3');
    rrq(three.s, h.port, 'f');
    await expect.poll(() => three.got.length).toBe(1);
    expect(errorOf(three.got)).toEqual({ op: 'error', code: 0, message: 'server busy' });
    expect(await h.metric('picluster_tftp_admission_refused_total', { reason: 'busy' })).toBe(1);
    // Unanswered transfers end after the bounded retransmits and free the server.
    for (let i = 0; i < 3; i++) timers.fireAll();
    await expect.poll(() => h!.server.activeTransfers()).toBe(0);
    expect(await h.metric('picluster_tftp_transfers_total', { outcome: 'no-ack' })).toBe(2);
    rrq(three.s, h.port, 'f');
    await expect.poll(() => three.got.length).toBe(2);
    expect(three.got[1]!.p).toMatchObject({ op: 'data', block: 1 });
  });

  it('a flood of forged requests from one address costs at most cap × (1 + maxRetriesBeforeAck) packets', async () => {
    const timers = new ManualTimers();
    h = await startHarness({ timers: timers.start, tftp: { maxTransfersPerClient: 4, maxRetriesBeforeAck: 1 } });
    writeFileSync(join(h.root, 'f'), randomBytes(50_000));
    const victims = await Promise.all(Array.from({ length: 40 }, () => client()));
    for (const v of victims) rrq(v.s, h.port, 'f', big);
    const total = (): number => victims.reduce((n, v) => n + v.got.length, 0);
    await expect.poll(total).toBe(40); // 4 OACKs + 36 one-packet refusals
    for (let i = 0; i < 3; i++) timers.fireAll();
    await expect.poll(() => h!.server.activeTransfers()).toBe(0);
    await expect.poll(total).toBe(44);
    const all = victims.flatMap((v) => v.got.map((g) => g.p.op));
    expect(all.filter((op) => op === 'oack').length).toBe(8);
    expect(all.filter((op) => op === 'error').length).toBe(36);
    expect(all.filter((op) => op === 'data').length).toBe(0);
    expect(await h.metric('picluster_tftp_admission_refused_total', { reason: 'client-busy' })).toBe(36);
  });
});

it('the default caps leave eight concurrent real transfers from one client alone', async () => {
  h = await startHarness();
  const content = randomBytes(300_000);
  writeFileSync(join(h.root, 'f'), content);
  const got = await Promise.all(Array.from({ length: 8 }, () => tftpGet({ port: h!.port, file: 'f', options: big })));
  for (const r of got) expect(r.data.equals(content)).toBe(true);
  expect(await h.metric('picluster_tftp_admission_refused_total', { reason: 'client-busy' })).toBe(0);
});
