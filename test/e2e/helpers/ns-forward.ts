/**
 * Run inside a network namespace: forwards each connection on a unix socket (the filesystem is
 * shared with the host) to 127.0.0.1:<port> in that namespace, so the test can reach a master
 * that listens only inside it. Prints `{"ready":true}` once listening; SIGTERM stops it.
 */
import { createConnection, createServer } from 'node:net';
import { rmSync } from 'node:fs';

const [path, port] = process.argv.slice(2);
if (!path || !port) throw new Error('usage: ns-forward.ts <unix socket path> <port>');
rmSync(path, { force: true });
const server = createServer((c) => {
  const u = createConnection(Number(port), '127.0.0.1');
  c.pipe(u).pipe(c);
  // a refused or reset side ends the other (pipe() does not end its target on destroy)
  u.on('close', () => c.destroy());
  c.on('close', () => u.destroy());
  u.on('error', () => c.destroy());
  c.on('error', () => u.destroy());
});
server.listen(path, () => process.stdout.write(`${JSON.stringify({ ready: true })}\n`));
process.on('SIGTERM', () => {
  server.close();
  rmSync(path, { force: true });
  process.exit(0);
});
