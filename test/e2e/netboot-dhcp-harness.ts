/**
 * Runs picluster's DHCP server (netboot/dhcp/server.ts) as its own process, so e2e tests
 * can start it inside a network namespace: `ip netns exec NS node --import tsx
 * netboot-dhcp-harness.ts '<json>'` with `{ netboot: <netboot config>, nodes: [...] }`.
 * Prints JSON lines: `{"ready":{ports,serverAddress}}`, `{"event":<BootEvent>}`,
 * `{"enroll":{...}}`. Stops on SIGTERM or when stdin closes.
 * (The server is hand-written: the npm `dhcp` package 0.2.20 crashes on a Pi's DISCOVER,
 * has no proxy mode and ACKs requests meant for other servers.)
 */
import { Value } from '@sinclair/typebox/value';
import { Registry } from 'prom-client';
import { systemClock } from '../../common/clock.ts';
import { createLogger } from '../../common/logger.ts';
import { NetbootConfigSchema, type NetbootConfig } from '../../netboot/config.ts';
import type { NetbootNode } from '../../netboot/node-directory.ts';
import { startDhcpServer } from '../../netboot/dhcp/server.ts';
import { FakeDirectory } from '../../netboot/dhcp/testing.ts';

const input = JSON.parse(process.argv[2] ?? '{}') as { netboot?: unknown; nodes?: NetbootNode[] };
const config = Value.Default(NetbootConfigSchema, input.netboot ?? {}) as NetbootConfig;
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const directory = new FakeDirectory(input.nodes ?? []);
const enroll = directory.enroll.bind(directory);
directory.enroll = (c) => {
  enroll(c);
  out({ enroll: c });
};
const server = await startDhcpServer(config, {
  log: createLogger({ level: process.env.DHCP_LOG_LEVEL === 'debug' ? 'debug' : 'warn' }, process.stderr),
  clock: systemClock,
  directory,
  sink: (event) => out({ event }),
  registry: new Registry(),
});
out({ ready: { ports: server.ports, serverAddress: server.serverAddress } });

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
