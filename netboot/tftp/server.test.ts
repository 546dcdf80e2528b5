import dgram from 'node:dgram';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NetbootNode, NodeDirectory } from '../node-directory.ts';
import { decodePacket, encodePacket } from './codec.ts';
import { tftpGet } from './testing/client.ts';
import { ENGINES, startHarness, withEngine, type Harness } from './testing/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Sends one datagram from a fresh socket and returns the first reply. */
async function exchange(port: number, payload: Buffer, host = '127.0.0.1'): Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo }> {
  const s = dgram.createSocket('udp4');
  try {
    s.send(payload, port, host);
    const [msg, rinfo] = (await once(s, 'message', { signal: AbortSignal.timeout(5000) })) as [Buffer, dgram.RemoteInfo];
    return { msg, rinfo };
  } finally {
    s.close();
  }
}

const node6: NetbootNode = { name: 'node6', mac: 'dc:a6:32:01:36:c2', serial: '89eb9bb9', model: 'pi4', approved: true };
const directory: NodeDirectory = {
  findByMac: (mac) => (mac === node6.mac ? node6 : undefined),
  findBySerial: (s) => (s === node6.serial ? node6 : undefined),
  renderNodeFile: (node, file) => (file === 'cmdline.txt' ? Buffer.from(`picluster.node=${node.name}\n`) : undefined),
};

describe.each(ENGINES)('TFTP server (%s engine)', (engine) => {
  it('serves a file lock-step without options (Pi 3 boot ROM) and reports it', async () => {
    h = await startHarness(withEngine(engine));
    expect(h.server.engine).toBe(engine);
    const content = randomBytes(3000);
    writeFileSync(join(h.root, 'bootcode.bin'), content);
    const r = await tftpGet({ port: h.port, file: 'bootcode.bin' });
    expect(r.oack).toBeUndefined();
    expect(r.data.equals(content)).toBe(true);
    const e = await h.event((x) => x.outcome === 'complete');
    expect(e).toMatchObject({ kind: 'tftp-transfer', ip: '127.0.0.1', detail: { file: 'bootcode.bin', bytes: 3000, blksize: 512, windowsize: 1 } });
    expect(typeof e.detail?.durationMs).toBe('number');
    expect(await h.metric('picluster_tftp_requests_total')).toBe(1);
    expect(await h.metric('picluster_tftp_transfers_total', { outcome: 'complete' })).toBe(1);
    expect(await h.metric('picluster_tftp_bytes_total')).toBe(3000);
  });

  it('answers the Pi 4 RRQ with an OACK in request order carrying the real tsize', async () => {
    h = await startHarness(withEngine(engine, { directory }));
    const content = randomBytes(5000);
    writeFileSync(join(h.root, 'start.elf'), content);
    const r = await tftpGet({
      port: h.port,
      file: '89eb9bb9/start.elf',
      options: [
        { name: 'tsize', value: '0' },
        { name: 'blksize', value: '1024' },
      ],
    });
    expect(r.oack).toEqual([
      { name: 'tsize', value: '5000' },
      { name: 'blksize', value: '1024' },
    ]);
    expect(r.data.equals(content)).toBe(true);
    const e = await h.event((x) => x.outcome === 'complete');
    expect(e).toMatchObject({ mac: node6.mac, serial: '89eb9bb9', node: 'node6', detail: { blksize: 1024, source: 'shared' } });
  });

  it('serves generated per-node files', async () => {
    h = await startHarness(withEngine(engine, { directory }));
    const r = await tftpGet({ port: h.port, file: 'dc-a6-32-01-36-c2/cmdline.txt' });
    expect(r.data.toString()).toBe('picluster.node=node6\n');
    expect(await h.event((x) => x.outcome === 'complete')).toMatchObject({ mac: node6.mac, serial: '89eb9bb9', detail: { source: 'node-file' } });
  });

  it('windowed transfer (windowsize 8, blksize 1468)', async () => {
    h = await startHarness(withEngine(engine));
    const content = randomBytes(1024 * 1024 + 17);
    writeFileSync(join(h.root, 'initramfs'), content);
    const r = await tftpGet({
      port: h.port,
      file: 'initramfs',
      options: [
        { name: 'blksize', value: '1468' },
        { name: 'windowsize', value: '8' },
      ],
    });
    expect(r.oack).toEqual([
      { name: 'blksize', value: '1468' },
      { name: 'windowsize', value: '8' },
    ]);
    expect(r.data.equals(content)).toBe(true);
    expect(await h.event((x) => x.outcome === 'complete')).toMatchObject({ detail: { windowsize: 8, retransmits: 0 } });
  });

  it('rolls block numbers over past 65535', async () => {
    h = await startHarness(withEngine(engine));
    const content = randomBytes(8 * 65536 + 100);
    writeFileSync(join(h.root, 'big'), content);
    const r = await tftpGet({
      port: h.port,
      file: 'big',
      options: [
        { name: 'blksize', value: '8' },
        { name: 'windowsize', value: '64' },
      ],
    });
    expect(r.data.equals(content)).toBe(true);
  });

  it('a Pi probe (ERROR "Early terminate" after block 1) is a probe, not a failure', async () => {
    h = await startHarness(withEngine(engine));
    writeFileSync(join(h.root, 'kernel8.img'), randomBytes(10_000));
    const r = await tftpGet({ port: h.port, file: 'kernel8.img', options: [{ name: 'tsize', value: '0' }], probe: true });
    expect(r.oack).toEqual([{ name: 'tsize', value: '10000' }]);
    const e = await h.event((x) => x.detail?.file === 'kernel8.img');
    expect(e).toMatchObject({ outcome: 'probe', reason: 'client error 0: Early terminate', detail: { sizeBytes: 10_000 } });
    expect(await h.metric('picluster_tftp_transfers_total', { outcome: 'probe' })).toBe(1);
    expect(h.server.activeTransfers()).toBe(0);
  });

  it.each([
    ['missing.bin', 1, 'not-found'],
    ['../etc/passwd', 2, 'access-violation'],
    ['/../etc/passwd', 2, 'access-violation'],
    ['/etc/passwd', 1, 'not-found'], // a leading / is the tftp root
  ])('refuses %s with ERROR %d and reports %s', async (file, code, outcome) => {
    h = await startHarness(withEngine(engine, { directory }));
    const { msg } = await exchange(h.port, encodePacket({ op: 'rrq', filename: file, mode: 'octet', options: [] }));
    expect(decodePacket(msg)).toMatchObject({ op: 'error', code });
    expect(await h.event((x) => x.detail?.file === file)).toMatchObject({ outcome });
  });

  it('keys a failed request by the node its prefix names', async () => {
    h = await startHarness(withEngine(engine, { directory }));
    await exchange(h.port, encodePacket({ op: 'rrq', filename: '89eb9bb9/pieeprom.sig', mode: 'octet', options: [] }));
    expect(await h.event(() => true)).toMatchObject({ outcome: 'not-found', mac: node6.mac, serial: '89eb9bb9', node: 'node6' });
  });

  it('refuses write requests', async () => {
    h = await startHarness(withEngine(engine));
    const { msg } = await exchange(h.port, encodePacket({ op: 'wrq', filename: 'x', mode: 'octet', options: [] }));
    expect(decodePacket(msg)).toEqual({ op: 'error', code: 2, message: 'write requests are refused' });
    expect(await h.event(() => true)).toMatchObject({ outcome: 'refused', reason: 'write-refused' });
  });

  it('serves netascii', async () => {
    h = await startHarness(withEngine(engine));
    writeFileSync(join(h.root, 'a.txt'), 'one\ntwo\n');
    const r = await tftpGet({ port: h.port, file: 'a.txt', mode: 'netascii', options: [{ name: 'tsize', value: '0' }] });
    expect(r.oack).toEqual([{ name: 'tsize', value: '10' }]);
    expect(r.data.toString()).toBe('one\r\ntwo\r\n');
  });

  it('sends DATA from the configured server address on a new port', async () => {
    h = await startHarness(withEngine(engine, { serverAddress: '127.0.0.2' }));
    writeFileSync(join(h.root, 'f'), 'x');
    const { msg, rinfo } = await exchange(h.port, encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), '127.0.0.2');
    expect(decodePacket(msg)).toMatchObject({ op: 'data', block: 1 });
    expect(rinfo.address).toBe('127.0.0.2');
    expect(rinfo.port).not.toBe(h.port);
  });

  it('ignores a retransmitted RRQ from a client that already has a transfer', async () => {
    h = await startHarness(withEngine(engine));
    writeFileSync(join(h.root, 'f'), randomBytes(2000));
    const s = dgram.createSocket('udp4');
    const rrq = encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] });
    s.send(rrq, h.port, '127.0.0.1');
    const [, first] = (await once(s, 'message', { signal: AbortSignal.timeout(5000) })) as [Buffer, dgram.RemoteInfo];
    s.send(rrq, h.port, '127.0.0.1');
    await expect.poll(() => h!.metric('picluster_tftp_ignored_total', { reason: 'duplicate-request' })).toBe(1);
    expect(h.server.activeTransfers()).toBe(1);
    s.send(encodePacket({ op: 'error', code: 0, message: 'bye' }), first.port, '127.0.0.1');
    await h.event(() => true);
    s.close();
  });
});

describe.each(ENGINES)('hostile datagrams keep the server serving (%s engine)', (engine) => {
  const corpus: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one byte', Buffer.from([1])],
    ['unknown opcode', Buffer.from('00ff0000', 'hex')],
    ['RRQ without terminator', Buffer.from('0001' + 'aa'.repeat(600), 'hex')],
    ['RRQ empty name', Buffer.from('00010000', 'hex')],
    ['RRQ option without value', Buffer.from('\0\x01f\0octet\0blksize\0', 'latin1')],
    ['RRQ absurd options', Buffer.from('\0\x01f\0octet\0blksize\x0099999999999\0windowsize\0-1\0tsize\0x\0', 'latin1')],
    ['RRQ huge name', Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(4000, 0x41), Buffer.from('\0octet\0')])],
    ['RRQ NUL padding garbage', Buffer.from('\0\x01f\0octet\0\0\0\x07', 'latin1')],
    ['RRQ bad mode', Buffer.from('\0\x01f\0mail\0', 'latin1')],
    ['RRQ traversal', Buffer.from('\0\x01../../../../etc/shadow\0octet\0', 'latin1')],
    ['RRQ backslash traversal', Buffer.from('\0\x01..\\..\\etc\\shadow\0octet\0', 'latin1')],
    ['RRQ high bytes', Buffer.from('\0\x01\xff\xfe\0octet\0', 'latin1')],
    ['DATA to the listen port', Buffer.from('00030001deadbeef', 'hex')],
    ['ACK to the listen port', Buffer.from('00040001', 'hex')],
    ['ERROR to the listen port', Buffer.from('00050000', 'hex')],
    ['OACK to the listen port', Buffer.from('\0\x06tsize\x001\0', 'latin1')],
    ['truncated ERROR', Buffer.from('0005', 'hex')],
    ['max-size garbage', randomBytes(65507)],
  ];

  it('survives the corpus on the listen port and on a transfer port, and still serves', async () => {
    h = await startHarness(withEngine(engine));
    const content = randomBytes(200_000);
    writeFileSync(join(h.root, 'f'), content);
    mkdirSync(join(h.root, 'd'));
    // Each from its own port: a port with a transfer in progress has its further RRQs ignored.
    const senders = corpus.map(([, d]) => {
      const c = dgram.createSocket('udp4');
      c.on('message', () => undefined);
      c.send(d, h!.port, '127.0.0.1');
      return c;
    });
    // Open a transfer by hand and throw the corpus (less well-formed ERRORs, which end a
    // transfer by design) at its port too, then end it with a client ERROR mid-way.
    const tsock = dgram.createSocket('udp4');
    tsock.send(encodePacket({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), h.port, '127.0.0.1');
    const [, rinfo] = (await once(tsock, 'message', { signal: AbortSignal.timeout(5000) })) as [Buffer, dgram.RemoteInfo];
    for (const [, d] of corpus) if (!(d.length >= 4 && d[1] === 5)) tsock.send(d, rinfo.port, '127.0.0.1');
    tsock.send(encodePacket({ op: 'ack', block: 1 }), rinfo.port, '127.0.0.1');
    tsock.send(encodePacket({ op: 'ack', block: 2 }), rinfo.port, '127.0.0.1');
    tsock.send(encodePacket({ op: 'ack', block: 2 }), rinfo.port, '127.0.0.1');
    tsock.send(encodePacket({ op: 'error', code: 3, message: 'x' }), rinfo.port, '127.0.0.1');
    await h.event((e) => e.outcome === 'client-error');
    tsock.close();
    const r = await tftpGet({ port: h.port, file: 'f', options: [{ name: 'windowsize', value: '4' }] });
    expect(r.data.equals(content)).toBe(true);
    expect(await h.metric('picluster_tftp_ignored_total', { reason: 'malformed' })).toBeGreaterThanOrEqual(10);
    expect(await h.metric('picluster_tftp_ignored_total', { reason: 'unexpected-opcode' })).toBeGreaterThanOrEqual(4);
    expect(h.events.filter((e) => e.outcome === 'access-violation').length).toBe(4); // traversal ×2, high bytes, huge name;
    expect(h.events.filter((e) => e.outcome === 'refused').length).toBe(1);
    for (const c of senders) c.close();
  });
});
