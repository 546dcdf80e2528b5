import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger.ts';
import { ManualClock } from '../../common/clock.ts';
import type { BootEvent } from '../boot-event.ts';
import { NetbootConfigSchema, type NetbootConfig } from '../config.ts';
import { decodeDhcp, encodeDhcp, type DhcpMessage } from './codec.ts';
import type { DhcpConfigInput } from './config.ts';
import { DhcpConfigError } from './errors.ts';
import { loadHex, PI_DISCOVER_FIXTURES } from './fixtures/load.ts';
import { clientInfo, getOption, messageTypeName, Opt } from './options.ts';
import { startDhcpServer, type RunningDhcpServer } from './server.ts';
import { FakeDirectory, hostileCorpus, pxeRequest, request } from './testing.ts';

const dir = mkdtempSync(join(tmpdir(), 'picluster-dhcp-server-'));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Collects datagrams from the moment it is created; `waitFor` checks old and new ones. */
class Client {
  readonly received: DhcpMessage[] = [];
  private readonly bus = new EventEmitter();
  private constructor(readonly socket: Socket) {
    socket.on('message', (buf) => {
      try {
        this.received.push(decodeDhcp(buf));
        this.bus.emit('msg');
      } catch {
        // not DHCP: not ours to check here
      }
    });
  }
  static async open(): Promise<Client> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const c = new Client(s);
    cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
    return c;
  }
  get port(): number {
    return this.socket.address().port;
  }
  send(bytes: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
  async waitFor(pred: (m: DhcpMessage) => boolean, timeoutMs = 5000): Promise<DhcpMessage> {
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const hit = this.received.find(pred);
      if (hit) return hit;
      await once(this.bus, 'msg', { signal });
    }
  }
}

class Sink {
  readonly events: BootEvent[] = [];
  private readonly bus = new EventEmitter();
  readonly fn = (e: BootEvent): void => {
    this.events.push(e);
    this.bus.emit('e');
  };
  async waitFor(pred: (e: BootEvent) => boolean, timeoutMs = 5000): Promise<BootEvent> {
    const signal = AbortSignal.timeout(timeoutMs);
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      await once(this.bus, 'e', { signal });
    }
  }
}

interface Started {
  server: RunningDhcpServer;
  client: Client;
  sink: Sink;
  registry: Registry;
  directory: FakeDirectory;
}

async function start(
  netboot: Partial<Omit<NetbootConfig, 'dhcp'>> & { dhcp?: DhcpConfigInput } = {},
  opts: { sink?: (e: BootEvent) => void; directory?: FakeDirectory } = {},
): Promise<Started> {
  const client = await Client.open();
  const config = Value.Default(NetbootConfigSchema, {
    serverAddress: '127.0.0.1',
    clients: 'any',
    ...netboot,
    dhcp: { port: 0, pxePort: 0, clientPort: client.port, broadcastAddress: '127.0.0.1', ...netboot.dhcp },
  }) as NetbootConfig;
  const sink = new Sink();
  const registry = new Registry();
  const directory = opts.directory ?? new FakeDirectory();
  const server = await startDhcpServer(config, {
    log: silentLogger(),
    clock: new ManualClock(),
    directory,
    sink: opts.sink ?? sink.fn,
    registry,
  });
  cleanups.push(() => server.close());
  return { server, client, sink, registry, directory };
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const v = metric?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

const typeOf = (m: DhcpMessage): string | undefined => messageTypeName(getOption(m, Opt.MessageType)?.[0]);

describe('DHCP server on loopback', () => {
  it.each(PI_DISCOVER_FIXTURES)('answers the %s fixture with a proxy OFFER and a boot event', async (name) => {
    const { server, client, sink, registry } = await start({ dhcp: { replyDelayMs: { 'b8:27:eb': 0 } } });
    const req = decodeDhcp(loadHex(name));
    await client.send(loadHex(name), server.ports.dhcp!);
    const offer = await client.waitFor((m) => m.xid === req.xid && m.op === 2);
    expect(typeOf(offer)).toBe('OFFER');
    expect(offer.options.map((o) => o.code)).toEqual([53, 54, 60, 97, 43]);
    expect(getOption(offer, Opt.ServerId)?.toString('hex')).toBe('7f000001');
    const e = await sink.waitFor((x) => x.kind === 'dhcp-discover');
    expect(e).toMatchObject({ outcome: 'answered', mac: clientInfo(req).mac });
    expect(await counter(registry, 'picluster_dhcp_requests_total', { type: 'DISCOVER' })).toBe(1);
    await expect.poll(() => counter(registry, 'picluster_dhcp_replies_total', { type: 'OFFER' })).toBe(1);
  });

  it('delays the Pi 3 reply: a Pi 4 DISCOVER sent after it is answered first', async () => {
    const { server, client, sink } = await start({ dhcp: { replyDelayMs: { 'b8:27:eb': 300 } } });
    await client.send(loadHex('pi3b-discover'), server.ports.dhcp!);
    await client.send(loadHex('pi4-discover'), server.ports.dhcp!);
    await client.waitFor((m) => m.xid === 0x26f30339);
    expect(client.received.map((m) => m.xid)).toEqual([0x5a1f3c7e, 0x26f30339]);
    expect((await sink.waitFor((e) => e.mac === 'b8:27:eb:28:f6:6d')).detail).toMatchObject({ delayMs: 300 });
  });

  it('drops and counts malformed datagrams and keeps serving (hostile corpus)', async () => {
    const { server, client, registry } = await start();
    const corpus = hostileCorpus([loadHex('pi4-discover')]);
    const probe = (xid: number): Buffer => encodeDhcp(pxeRequest({ xid, mac: '52:54:00:00:00:01' }));
    // paced: after every 50 hostile datagrams a valid DISCOVER must still be answered
    for (let i = 0; i < corpus.length; i += 50) {
      for (const c of corpus.slice(i, i + 50)) await client.send(c.bytes, server.ports.dhcp!);
      const xid = 0x7000_0000 + i;
      await client.send(probe(xid), server.ports.dhcp!);
      await client.waitFor((m) => m.xid === xid);
    }
    const malformed = await counter(registry, 'picluster_dhcp_ignored_total', { reason: 'malformed' });
    expect(malformed).toBeGreaterThan(100);
    expect(await counter(registry, 'picluster_dhcp_requests_total', { type: 'malformed' })).toBe(malformed);
  });

  it('keeps serving when the boot event sink throws', async () => {
    let calls = 0;
    const { server, client } = await start(
      {},
      {
        sink: () => {
          calls++;
          throw new Error('sink down');
        },
      },
    );
    for (const xid of [1, 2]) {
      await client.send(encodeDhcp(pxeRequest({ xid })), server.ports.dhcp!);
      await client.waitFor((m) => m.xid === xid);
    }
    expect(calls).toBe(2);
  });

  it('never answers a REQUEST on the DHCP port in proxy mode; counts it', async () => {
    const { server, client, registry } = await start();
    await client.send(encodeDhcp(pxeRequest({ type: 'REQUEST', xid: 5, serverId: '192.168.1.1', requestedIp: '192.168.1.9' })), server.ports.dhcp!);
    await client.send(encodeDhcp(pxeRequest({ xid: 6 })), server.ports.dhcp!);
    await client.waitFor((m) => m.xid === 6);
    expect(client.received.some((m) => m.xid === 5)).toBe(false);
    expect(await counter(registry, 'picluster_dhcp_ignored_total', { reason: 'request-for-other-server' })).toBe(1);
  });

  it('answers a PXE-port REQUEST with an ACK to its source', async () => {
    const { server, client } = await start();
    await client.send(encodeDhcp(pxeRequest({ type: 'REQUEST', xid: 9, arch: 7, ciaddr: '127.0.0.1' })), server.ports.pxe!);
    const ack = await client.waitFor((m) => m.xid === 9);
    expect(typeOf(ack)).toBe('ACK');
    expect(ack.file).toBe('ipxe.efi');
  });

  it('enrollment: an unknown Pi is handed to directory.enroll and not answered', async () => {
    const directory = new FakeDirectory();
    const { server, client, sink } = await start({ clients: 'known', enrollment: true }, { directory });
    await client.send(loadHex('pi4-discover'), server.ports.dhcp!);
    await sink.waitFor((e) => e.reason === 'enrolled-pending-approval');
    expect(directory.enrolled).toEqual([{ mac: 'dc:a6:32:01:36:c2', serial: '89eb9bb9', vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: 0 }]);
    // approve it: now it is answered
    directory.nodes.push({ name: 'pi4-a', mac: 'dc:a6:32:01:36:c2', approved: true });
    await client.send(loadHex('pi4-discover'), server.ports.dhcp!);
    await client.waitFor((m) => m.xid === 0x5a1f3c7e);
    expect(client.received.length).toBe(1);
  });

  it('full mode: DISCOVER/OFFER/REQUEST/ACK, lease persisted in the JSON lease file', async () => {
    const leaseFile = join(dir, 'leases.json');
    const { server, client, sink } = await start({
      mode: 'full',
      dhcp: { leaseFile, full: { rangeStart: '127.0.0.100', rangeEnd: '127.0.0.110', subnetMask: '255.0.0.0' } },
    });
    const mac = '52:54:00:00:00:42';
    await client.send(encodeDhcp(request({ mac, xid: 1 })), server.ports.dhcp!);
    const offer = await client.waitFor((m) => m.xid === 1);
    expect(offer.yiaddr).toBe('127.0.0.100');
    await client.send(encodeDhcp(request({ mac, xid: 2, type: 'REQUEST', serverId: '127.0.0.1', requestedIp: offer.yiaddr })), server.ports.dhcp!);
    expect(typeOf(await client.waitFor((m) => m.xid === 2))).toBe('ACK');
    await sink.waitFor((e) => e.kind === 'dhcp-ack' && e.outcome === 'leased');
    expect(JSON.parse(readFileSync(leaseFile, 'utf8')).leases).toEqual([expect.objectContaining({ ip: '127.0.0.100', mac, state: 'bound' })]);
  });

  it('full mode without a range fails at start with DhcpConfigError', async () => {
    await expect(start({ mode: 'full' })).rejects.toThrow(DhcpConfigError);
  });

  it('an interface without IPv4 fails at start with DhcpConfigError', async () => {
    await expect(start({ serverAddress: undefined, interface: 'no-such-if0' } as never)).rejects.toThrow(DhcpConfigError);
  });

  it('close() releases the ports', async () => {
    const { server } = await start();
    const port = server.ports.dhcp!;
    await server.close();
    const s = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, '0.0.0.0', resolve);
    });
    await new Promise<void>((r) => s.close(() => r()));
  });
});
