/**
 * Server side of `bench:bootstorm`, run inside the bench's server namespace:
 *   bootstorm-server.ts <root> <serverAddress> <interface> [--http-only] [--tftp-engine native|js]
 * Starts picluster's netboot (proxyDHCP :67 + TFTP :69, `startNetboot`, the code the
 * master runs) over <root>, and, in every mode, a plain static HTTP server on :8080 for
 * the runtime fetch (the same one for the dnsmasq peer, so that step compares equal).
 * Prints one line `ready` on stdout; SIGTERM stops it.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { Registry } from 'prom-client';
import { systemClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { startNetboot } from '../netboot/netboot.ts';
import { emptyDirectory, testConfig } from '../netboot/tftp/testing/harness.ts';

const [root, serverAddress, iface] = process.argv.slice(2);
if (!root || !serverAddress || !iface) {
  process.stderr.write('usage: bootstorm-server.ts <root> <serverAddress> <interface> [--http-only]\n');
  process.exit(2);
}
const httpOnly = process.argv.includes('--http-only');
const engineAt = process.argv.indexOf('--tftp-engine');
const engine = engineAt > 0 ? process.argv[engineAt + 1] : undefined;

const http = createServer((req, res) => {
  const name = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!)).replace(/^(\.\.[/\\])+/, '');
  const file = join(root, name);
  try {
    const st = statSync(file);
    res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
    createReadStream(file).pipe(res);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => http.listen(8080, serverAddress, resolve));

let close = async (): Promise<void> => undefined;
if (!httpOnly) {
  const config = testConfig({
    interface: iface,
    serverAddress,
    mode: 'proxy',
    clients: 'any',
    tftpRoot: root,
    // The Pi 3 reply delay (1 s) is a workaround for real boot ROMs; dnsmasq has none,
    // so the bench turns it off to compare like with like.
    dhcp: { port: 67, replyDelayMs: { 'b8:27:eb': 0 } },
    tftp: { port: 69, ...(engine ? { engine } : {}) },
  });
  const netboot = await startNetboot(config, {
    log: silentLogger(),
    clock: systemClock,
    directory: emptyDirectory,
    registry: new Registry(),
    sink: () => undefined,
  });
  close = () => netboot.close();
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void close().then(() => {
    http.close();
    process.exit(0);
  });
});
