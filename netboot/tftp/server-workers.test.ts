/**
 * Transfers on worker threads (workers.ts, transfer-worker.ts): big shared files are sent
 * from a worker, small and generated ones on the main thread, and both end in the same
 * metrics and boot events. Real UDP on loopback, real clients.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePacket } from './codec.ts';
import { tftpGet } from './testing/client.ts';
import { startHarness, type Harness } from './testing/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const opts = [
  { name: 'tsize', value: '0' },
  { name: 'blksize', value: '1468' },
];

describe('TFTP transfer workers', () => {
  it('serves concurrent big files from workers and small ones in-process, with the same reports', async () => {
    h = await startHarness({ tftp: { engine: 'js', workers: 2, workerMinBytes: 100_000, maxTransfersPerClient: 16 } });
    const big = randomBytes(1_000_003);
    const small = randomBytes(5000);
    writeFileSync(join(h.root, 'big'), big);
    writeFileSync(join(h.root, 'small'), small);
    await h.server.workersReady();
    await tftpGet({ port: h.port, file: 'small', options: opts });
    await h.event((e) => e.outcome === 'complete');
    expect(h.server.workerThreads()).toBe(2);
    expect(h.server.workerTransfers()).toBe(0); // a small file stays on the main thread
    h.events.length = 0;
    const results = await Promise.all([
      ...Array.from({ length: 6 }, () => tftpGet({ port: h!.port, file: 'big', options: [...opts, { name: 'windowsize', value: '4' }] })),
      ...Array.from({ length: 3 }, () => tftpGet({ port: h!.port, file: 'big', options: opts })),
      tftpGet({ port: h.port, file: 'small', options: opts }),
    ]);
    for (const r of results.slice(0, 9)) expect(r.data.equals(big)).toBe(true);
    expect(results[9]!.data.equals(small)).toBe(true);
    await expect.poll(() => h!.events.length).toBe(10);
    expect(h.events.every((e) => e.outcome === 'complete')).toBe(true);
    expect(h.events.filter((e) => e.detail?.file === 'big').every((e) => e.detail?.bytes === big.length)).toBe(true);
    expect(await h.metric('picluster_tftp_transfers_total', { outcome: 'complete' })).toBe(11);
    expect(await h.metric('picluster_tftp_bytes_total')).toBe(9 * big.length + 2 * small.length);
    expect(h.server.activeTransfers()).toBe(0);
    expect(h.server.root.reads).toBe(2);
    expect(h.server.workerTransfers()).toBe(9);
  });

  it('a worker transfer that is never acknowledged ends as no-ack; closing aborts running ones', async () => {
    h = await startHarness({ tftp: { engine: 'js', workers: 1, workerMinBytes: 0, retransmitMs: 20, maxRetriesBeforeAck: 1 } });
    writeFileSync(join(h.root, 'f'), randomBytes(300_000));
    await h.server.workersReady();
    const silent = dgram.createSocket('udp4');
    silent.on('message', () => undefined);
    silent.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), h.port, '127.0.0.1');
    expect(await h.event(() => true)).toMatchObject({ outcome: 'no-ack', detail: { retransmits: 1 } });
    silent.close();
    // A transfer the client keeps open (it acknowledges block 1, then waits) …
    const s = dgram.createSocket('udp4');
    s.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), h.port, '127.0.0.1');
    const [, rinfo] = (await once(s, 'message', { signal: AbortSignal.timeout(5000) })) as [Buffer, dgram.RemoteInfo];
    s.send(encodePacket({ op: 'ack', block: 1 }), rinfo.port, '127.0.0.1');
    await once(s, 'message', { signal: AbortSignal.timeout(5000) });
    // … is aborted and reported when the server closes.
    await h.close();
    const aborted = h.events.find((e) => e.outcome === 'aborted');
    expect(aborted).toMatchObject({ detail: { file: 'f', bytes: 512 } });
    h = undefined;
    s.close();
  });
});
