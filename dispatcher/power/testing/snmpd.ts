/**
 * Debian's snmpd on loopback for the snmp-poe tests: its own config (`-C -c`), its own persistent
 * dir, a free UDP port, a writable pethPsePortAdminEnable column served by `poe-pass-persist.mjs`
 * through `pass_persist`, and a v3 user made with `createUser`. Started per test file, stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SNMPD = ['/usr/sbin/snmpd', '/usr/local/sbin/snmpd'].find((p) => existsSync(p));

export const V2C_RW = 'poe-rw-community';
export const V2C_RO = 'poe-ro-community';
export const V3_USER = { name: 'poeadmin', authKey: 'auth-key-123', privKey: 'priv-key-456' } as const;

export interface Snmpd {
  readonly port: number;
  readonly pid: number;
  /** Current table: `"<group>.<port>"` → 1 (true) / 2 (false). */
  table(): Record<string, number>;
  /** Every set the agent accepted, in order: `"1.2 2"`. */
  sets(): string[];
  stop(): Promise<void>;
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startSnmpd(table: Record<string, number>): Promise<Snmpd> {
  if (!SNMPD) throw new Error('snmpd is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'picluster-snmpd-'));
  const persist = join(dir, 'persist');
  mkdirSync(persist);
  const state = join(dir, 'poe-table.json');
  writeFileSync(state, JSON.stringify(table));
  const script = join(dirname(fileURLToPath(import.meta.url)), 'poe-pass-persist.mjs');
  const port = await freeUdpPort();
  const conf = join(dir, 'snmpd.conf');
  writeFileSync(
    conf,
    [
      `rwcommunity ${V2C_RW} 127.0.0.1`,
      `rocommunity ${V2C_RO} 127.0.0.1`,
      `createUser ${V3_USER.name} SHA "${V3_USER.authKey}" AES "${V3_USER.privKey}"`,
      `rwuser ${V3_USER.name} priv`,
      `pass_persist .1.3.6.1.2.1.105.1.1.1.3 ${process.execPath} ${script} ${state}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(SNMPD, ['-f', '-C', '-c', conf, '-Lo', '-p', join(dir, 'snmpd.pid'), `udp:127.0.0.1:${port}`], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', SNMP_PERSISTENT_DIR: persist, MIBS: '', MIBDIRS: join(dir, 'no-mibs') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      output += b.toString();
      if (/NET-SNMP version/.test(output)) resolve();
      if (output.length > 1_000_000) output = output.slice(-100_000);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`snmpd exited (${code}) before it was ready: ${output.slice(-2000)}`)));
    child.once('error', reject);
  });
  const timeout = AbortSignal.timeout(15_000);
  await Promise.race([ready, once(timeout, 'abort').then(() => Promise.reject(new Error(`snmpd not ready in 15 s: ${output.slice(-2000)}`)))]).catch(
    async (e: unknown) => {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw e;
    },
  );
  return {
    port,
    pid: child.pid!,
    table: () => JSON.parse(readFileSync(state, 'utf8')) as Record<string, number>,
    sets: () =>
      existsSync(state + '.log')
        ? readFileSync(state + '.log', 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => l.replace(/^set /, ''))
        : [],
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        process.kill(child.pid!, 'SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
