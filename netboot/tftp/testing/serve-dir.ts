/**
 * Dev helper: `node --import tsx netboot/tftp/testing/serve-dir.ts <root> [port] [--events] [--debug]` serves a
 * directory on 127.0.0.1 and prints the port (used by the bench as a child process).
 */
import { Registry } from 'prom-client';
import { systemClock } from '../../../common/clock.ts';
import { createLogger, silentLogger } from '../../../common/logger.ts';
import { startTftpServer } from '../server.ts';
import { emptyDirectory, testConfig } from './harness.ts';

const args = process.argv.slice(2);
const printEvents = args.includes('--events');
const [root, port] = args.filter((a) => !a.startsWith('--'));
if (!root) {
  process.stderr.write('usage: serve-dir.ts <root> [port] [--events] [--debug]\n');
  process.exit(2);
}
const config = testConfig({ interface: 'lo', serverAddress: '127.0.0.1', tftpRoot: root, clients: 'any', tftp: { port: Number(port ?? 0) } });
const server = await startTftpServer(config, {
  log: args.includes('--debug') ? createLogger({ level: 'debug' }, process.stderr) : silentLogger(),
  clock: systemClock,
  directory: emptyDirectory,
  registry: new Registry(),
  sink: printEvents ? (e) => process.stdout.write(JSON.stringify(e) + '\n') : () => undefined,
});
process.stdout.write(`${server.ports.tftp}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
