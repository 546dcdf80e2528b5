/**
 * A small raw-UDP peer for the DHCP e2e tests, run inside a namespace the test created:
 * binds `{bind:{address,port}}` (broadcast on), sends `send:[{hex,address,port}]`, and prints
 * every datagram it receives as `{"rx":{from,port,hex}}`. More datagrams can be sent by
 * writing `{"send":{hex,address,port}}` lines to stdin. Prints `{"ready":{port}}` once bound
 * and `{"sent":n}` after each send. Stops on SIGTERM or when stdin closes.
 * (Tests of the hand-written DHCP server; the npm `dhcp` package 0.2.20 crashes on a
 * Pi's DISCOVER, has no proxy mode and ACKs requests meant for other servers.)
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

interface Send {
  hex: string;
  address: string;
  port: number;
}
const cfg = JSON.parse(process.argv[2] ?? '{}') as { bind: { address: string; port: number }; send?: Send[] };
const out = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
const sock = createSocket({ type: 'udp4', reuseAddr: true });
let sent = 0;
const send = (s: Send): void => {
  sock.send(Buffer.from(s.hex, 'hex'), s.port, s.address, (err) => {
    if (err) out({ error: String(err) });
    else out({ sent: ++sent });
  });
};
sock.on('message', (buf, rinfo) => out({ rx: { from: rinfo.address, port: rinfo.port, hex: buf.toString('hex') } }));
sock.on('error', (err) => out({ error: String(err) }));
sock.bind(cfg.bind.port, cfg.bind.address, () => {
  sock.setBroadcast(true);
  out({ ready: { port: sock.address().port } });
  for (const s of cfg.send ?? []) send(s);
});
createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line) as { send?: Send };
  if (msg.send) send(msg.send);
});
const stop = (): void => {
  sock.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
