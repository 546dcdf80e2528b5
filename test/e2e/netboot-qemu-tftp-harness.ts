/**
 * Runs picluster's netboot servers together — DHCP and TFTP, through `startNetboot` — as
 * their own process, so netboot-qemu-tftp.test.ts can start them inside a network
 * namespace: `ip netns exec NS node --import tsx netboot-qemu-tftp-harness.ts '<json>'`
 * with `{ netboot: <netboot config>, nodes: [...] }`.
 * Prints JSON lines: `{"ready":{ports}}`, then `{"event":<BootEvent>}` for every boot event
 * (DHCP decisions and TFTP transfers). Stops on SIGTERM or when stdin closes.
 */
import { Value } from '@sinclair/typebox/value';
import { Registry } from 'prom-client';
import { systemClock } from '../../common/clock.ts';
import { createLogger } from '../../common/logger.ts';
import { NetbootConfigSchema, type NetbootConfig } from '../../netboot/config.ts';
import type { NetbootNode } from '../../netboot/node-directory.ts';
import { startNetboot } from '../../netboot/netboot.ts';
import { FakeDirectory } from '../../netboot/dhcp/testing.ts';

const input = JSON.parse(process.argv[2] ?? '{}') as { netboot?: unknown; nodes?: NetbootNode[] };
const config = Value.Default(NetbootConfigSchema, input.netboot ?? {}) as NetbootConfig;
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const netboot = await startNetboot(config, {
  log: createLogger({ level: process.env.NETBOOT_LOG_LEVEL === 'debug' ? 'debug' : 'warn' }, process.stderr),
  clock: systemClock,
  directory: new FakeDirectory(input.nodes ?? []),
  sink: (event) => out({ event }),
  registry: new Registry(),
});
out({ ready: { ports: netboot.ports } });

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await netboot.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
