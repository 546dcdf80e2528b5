/**
 * `picluster tls init [--dir D] [--name host]… [--ip addr]… [--days N] [--force]`: a self-signed
 * CA and a server certificate signed by it for a home lab (common/tls-cert.ts: node:crypto,
 * no openssl), key files 0600; prints the config lines and the pin agents and clients use.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createCa, createServerCert } from '../../common/tls-cert.ts';
import { pinOf } from '../../common/tls-pin.ts';
import { parseFlags, UsageError } from '../args.ts';

export const USAGE = `usage: picluster tls init [--dir DIR] [--name HOST]... [--ip ADDR]... [--days N] [--force]

Makes DIR/ca.pem + ca-key.pem (a CA for this cluster) and DIR/server.pem + server-key.pem
(the master's certificate, signed by it) with the given names and addresses in subjectAltName
(default: localhost, this host's name, 127.0.0.1, ::1). Prints the http.tls lines for
picluster.yaml and the SHA-256 pin of the server certificate. Default DIR: ./data/tls.
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    {
      dir: { type: 'string' },
      name: { type: 'string', multiple: true },
      ip: { type: 'string', multiple: true },
      days: { type: 'string' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals[0] !== 'init' || positionals.length !== 1) throw new UsageError(`picluster tls: the only subcommand is init\n${USAGE}`);
  const dir = resolve(values.dir ?? './data/tls');
  const names = values.name?.length ? values.name : ['localhost', hostname()];
  const ips = values.ip?.length ? values.ip : ['127.0.0.1', '::1'];
  for (const ip of ips) if (!isIP(ip)) throw new UsageError(`--ip ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  for (const n of names) if (!/^[A-Za-z0-9*]([A-Za-z0-9.-]{0,252})$/.test(n)) throw new UsageError(`--name ${JSON.stringify(n)} is not a DNS name`);
  const days = values.days === undefined ? 825 : Number(values.days);
  if (!Number.isInteger(days) || days < 1 || days > 36500) throw new UsageError(`--days must be an integer 1..36500 (got ${JSON.stringify(values.days)})`);
  const files = { ca: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem') };
  if (!values.force) {
    const there = Object.values(files).filter((f) => existsSync(f));
    if (there.length) throw new UsageError(`${there.join(', ')} already exist: pass --force to replace them`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = createCa({ days: Math.max(days, 3650) });
  const server = createServerCert(ca, { names: [...new Set(names)], ips: [...new Set(ips)], days });
  writeFileSync(files.ca, ca.cert, { mode: 0o644 });
  writeFileSync(files.caKey, ca.key, { mode: 0o600 });
  writeFileSync(files.cert, server.cert, { mode: 0o644 });
  writeFileSync(files.key, server.key, { mode: 0o600 });
  const pin = pinOf(server.der);
  process.stdout.write(
    [
      `wrote ${files.ca}, ${files.caKey} (0600), ${files.cert}, ${files.key} (0600)`,
      `server certificate for ${[...names, ...ips].join(', ')}, valid ${days} days`,
      '',
      'add to picluster.yaml:',
      '  http:',
      '    tls:',
      `      cert: ${files.cert}`,
      `      key: ${files.key}`,
      '',
      `pin: ${pin}`,
      `clients: picluster --ca ${files.ca} (or --pin ${pin}); agents: --tls-ca ${files.ca} or --tls-pin ${pin}`,
      '',
    ].join('\n'),
  );
  return 0;
}
