/**
 * Dev helper: `node --import tsx netboot/tftp/testing/serve-dir.ts <root> [port] [--events] [--debug]
 * [--tftp '{"maxTransfersPerClient":100}'] [--engine-check]` serves a directory on 127.0.0.1 (or `--address A`) and
 * prints the port (used by the benches as a child process). `--tftp` overrides `netboot.tftp` keys:
 * the benches run many clients from one address, which the per-client cap would refuse.
 * `--engine-check` exits 1 when `--tftp`'s `engine` is not the one running (the addon is missing).
 */
import { Registry } from 'prom-client';
import { systemClock } from '../../../common/clock.ts';
import { createLogger, silentLogger } from '../../../common/logger.ts';
import { startTftpServer } from '../server.ts';
import { emptyDirectory, testConfig } from './harness.ts';

const args = process.argv.slice(2);
const printEvents = args.includes('--events');
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const overrides = JSON.parse(flag('--tftp') ?? '{}') as Record<string, unknown>;
const address = flag('--address') ?? '127.0.0.1';
const [root, port] = args.filter((a, i) => !a.startsWith('--') && !['--tftp', '--address'].includes(args[i - 1] ?? ''));
if (!root) {
  process.stderr.write('usage: serve-dir.ts <root> [port] [--events] [--debug]\n');
  process.exit(2);
}
const config = testConfig({ interface: 'lo', serverAddress: address, tftpRoot: root, clients: 'any', tftp: { ...overrides, port: Number(port ?? 0) } });
const server = await startTftpServer(config, {
  log: args.includes('--debug') ? createLogger({ level: 'debug' }, process.stderr) : silentLogger(),
  clock: systemClock,
  directory: emptyDirectory,
  registry: new Registry(),
  sink: printEvents ? (e) => process.stdout.write(JSON.stringify(e) + '\n') : () => undefined,
});
if (args.includes('--engine-check') && overrides.engine !== undefined && server.engine !== overrides.engine) {
  // A bench must not label the JS fallback "native".
  process.stderr.write(`serve-dir: engine ${String(overrides.engine)} requested, ${server.engine} running\n`);
  await server.close();
  process.exit(1);
}
process.stdout.write(`${server.ports.tftp}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
