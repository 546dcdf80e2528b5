/**
 * The netboot families metrics.ts declares must be the ones the real servers use: a DHCP
 * server started on loopback with the master's registry counts into them, and netboot's TFTP
 * metrics accept their labels. A mismatch (renamed label) fails here, not in production.
 */
import { createSocket } from 'node:dgram';
import { Value } from '@sinclair/typebox/value';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { NetbootConfigSchema, type NetbootConfig } from '../netboot/config.ts';
import { loadHex } from '../netboot/dhcp/fixtures/load.ts';
import { startDhcpServer } from '../netboot/dhcp/server.ts';
import { FakeDirectory } from '../netboot/dhcp/testing.ts';
import { tftpMetrics } from '../netboot/tftp/metrics.ts';
import { Dispatcher } from './dispatcher.ts';
import { createMetrics } from './metrics.ts';
import { asyncStore } from './store/async-adapter.ts';
import { MemoryStore } from './store/memory-store.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function masterRegistry(): Promise<Registry> {
  const d = new Dispatcher({
    store: asyncStore(new MemoryStore()),
    clock: new ManualClock(),
    log: silentLogger(),
    clusterSecret: 'cluster-secret-0123456789abcdef',
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 1000,
      missedHeartbeats: 3,
      restartGraceMs: 1000,
      defaultRetries: 1,
      retryBackoffMs: 10,
      retryBackoffMaxMs: 100,
      outputLimitBytes: 4096,
    },
  });
  await d.start();
  return createMetrics(d, new Registry(), { processMetrics: false });
}

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

describe('netboot families declared by the master', () => {
  it('the real DHCP server counts into them', async () => {
    const registry = await masterRegistry();
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => client.close(() => r())));
    const config = Value.Default(NetbootConfigSchema, {
      serverAddress: '127.0.0.1',
      clients: 'any',
      dhcp: { port: 0, pxePort: 0, clientPort: client.address().port, broadcastAddress: '127.0.0.1', replyDelayMs: { 'b8:27:eb': 0 } },
    }) as NetbootConfig;
    const server = await startDhcpServer(config, { log: silentLogger(), clock: new ManualClock(), directory: new FakeDirectory(), sink: () => {}, registry });
    cleanups.push(() => server.close());
    const reply = new Promise<void>((r) => client.once('message', () => r()));
    client.send(loadHex('pi3bplus-discover'), server.ports.dhcp!, '127.0.0.1');
    await reply;
    await expect.poll(() => value(registry, 'picluster_dhcp_replies_total', { type: 'OFFER' })).toBe(1);
    expect(await value(registry, 'picluster_dhcp_requests_total', { type: 'DISCOVER' })).toBe(1);
  });

  it("netboot's TFTP metrics reuse them with their own labels", async () => {
    const registry = await masterRegistry();
    const t = tftpMetrics(registry);
    t.transfers.inc({ outcome: 'complete' });
    t.ignored.inc({ reason: 'malformed' });
    t.bytes.inc(512);
    t.requests.inc();
    t.retransmits.inc();
    expect(await value(registry, 'picluster_tftp_transfers_total', { outcome: 'complete' })).toBe(1);
    expect(await value(registry, 'picluster_tftp_bytes_total')).toBe(512);
  });
});
