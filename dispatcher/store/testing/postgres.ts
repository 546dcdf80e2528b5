/**
 * A throwaway PostgreSQL for tests: Debian's `initdb` in a temp dir, `postgres` on a free
 * loopback port with its socket in that dir, stopped by PID. As root the server runs as the
 * `postgres` user (PostgreSQL refuses root). `findPostgres()` is undefined when the binaries are
 * absent: callers skip with `POSTGRES_MISSING` (CI installs `postgresql`, .ci/packages.txt).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const POSTGRES_MISSING =
  'PostgreSQL is not installed (apt-get install postgresql; /usr/lib/postgresql/*/bin/postgres): skipping the PostgreSQL store tests';

/** The directory holding `initdb` and `postgres`, newest version first; undefined if absent. */
export function findPostgres(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] && join(root, versions[0], 'bin');
}

export interface TestPostgres {
  readonly port: number;
  readonly pid: number;
  /** A URL for a fresh, empty database (created on each call). */
  freshDatabase(): Promise<string>;
  stop(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** Runs `argv` as the `postgres` user when we are root (setpriv execs: the PID is the server's), as ourselves otherwise. */
function asServerUser(argv: string[]): string[] {
  return process.getuid?.() === 0 ? ['setpriv', '--reuid=postgres', '--regid=postgres', '--clear-groups', '--', ...argv] : argv;
}

/** Resolves when `child` prints `marker` on stderr; rejects if it exits first or `ms` passes. */
function waitForLog(child: ChildProcess, marker: string, ms: number, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`postgres not ready after ${ms} ms:\n${log()}`)), ms);
    const onData = () => {
      if (log().includes(marker)) done();
    };
    const onExit = (code: number | null) => done(new Error(`postgres exited (${code}) before it was ready:\n${log()}`));
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    onData();
  });
}

/** `fsync: true` for benchmarks (durable commits, like a production server); tests leave it off. */
export async function startPostgres(bin: string, opts: { readyMs?: number; fsync?: boolean } = {}): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'picluster-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const initArgv = asServerUser([join(bin, 'initdb'), '-D', data, '-U', 'picluster', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const init = spawnSync(initArgv[0]!, initArgv.slice(1), { encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr}`);
  }
  const port = await freePort();
  // fsync off: these servers hold test data only (the tests SIGKILL the master, never PostgreSQL).
  const argv = asServerUser([
    join(bin, 'postgres'),
    '-D',
    data,
    '-k',
    dir,
    '-p',
    String(port),
    '-h',
    '127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'max_connections=200',
  ]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    log = (log + d).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGINT is PostgreSQL's fast shutdown.
      process.kill(child.pid!, 'SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForLog(child, 'ready to accept connections', opts.readyMs ?? 30_000, () => log);
  } catch (e) {
    await stop();
    throw e;
  }
  const admin = `postgres://picluster@127.0.0.1:${port}/postgres`;
  let n = 0;
  return {
    port,
    pid: child.pid!,
    async freshDatabase() {
      const name = `t${process.pid}_${++n}`;
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://picluster@127.0.0.1:${port}/${name}`;
    },
    stop,
  };
}
