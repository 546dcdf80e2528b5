/**
 * Power loss, simulated: the writer (writer.ts) runs under an LD_PRELOAD shim (fsync-log.c, built
 * here with gcc) that logs every write/truncate/sync of the database files. After SIGKILL, the
 * files are rebuilt as a power loss would leave them — for each file, only what was written
 * before its last fsync/fdatasync (the page cache's unsynced writes are gone) — and opened again.
 * synchronous=full: every acknowledged submission and result is there. synchronous=normal: the
 * acknowledged tail is lost (the WAL is synced only at checkpoints).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../dispatcher/store/sqlite-store.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const gcc = (() => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Op {
  readonly op: 'W' | 'T' | 'S';
  readonly path: string;
  readonly off: number;
  readonly data: Buffer;
}

function parseLog(buf: Buffer): Op[] {
  const ops: Op[] = [];
  for (let p = 0; p + 15 <= buf.length;) {
    const op = String.fromCharCode(buf[p]!) as Op['op'];
    const plen = buf.readUInt16LE(p + 1);
    const path = buf.toString('utf8', p + 3, p + 3 + plen);
    const off = Number(buf.readBigInt64LE(p + 3 + plen));
    const len = buf.readUInt32LE(p + 11 + plen);
    const data = buf.subarray(p + 15 + plen, p + 15 + plen + len);
    ops.push({ op, path, off, data });
    p += 15 + plen + len;
  }
  return ops;
}

/** Each file as the disk holds it after a power loss: its writes and truncates up to its last sync. */
function rebuild(ops: Op[], into: string): void {
  const lastSync = new Map<string, number>();
  ops.forEach((o, i) => o.op === 'S' && lastSync.set(o.path, i));
  const files = new Map<string, Buffer>();
  ops.forEach((o, i) => {
    if (o.op === 'S' || i > (lastSync.get(o.path) ?? -1)) return;
    let f = files.get(o.path) ?? Buffer.alloc(0);
    if (o.op === 'T') f = o.off <= f.length ? f.subarray(0, o.off) : Buffer.concat([f, Buffer.alloc(o.off - f.length)]);
    else {
      if (f.length < o.off + o.data.length) f = Buffer.concat([f, Buffer.alloc(o.off + o.data.length - f.length)]);
      o.data.copy(f, o.off);
    }
    files.set(o.path, f);
  });
  mkdirSync(into, { recursive: true });
  // The -shm is a cache SQLite rebuilds from the WAL; a file never synced is empty; a file deleted
  // before the kill (the rollback journal of the first commits, before WAL mode) stays deleted.
  for (const path of new Set(ops.map((o) => o.path))) {
    if (path.endsWith('-shm') || !existsSync(path)) continue;
    writeFileSync(join(into, basename(path)), files.get(path) ?? Buffer.alloc(0));
  }
}

async function crash(synchronous: 'full' | 'normal', shim: string, acks: number): Promise<{ jobs: number[]; results: number[]; ops: Op[]; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `picluster-powerloss-${synchronous}-`));
  const data = join(dir, 'data');
  mkdirSync(data);
  const log = join(dir, 'io.log');
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'writer.ts'), join(data, 'picluster.db'), synchronous], {
    env: { ...process.env, LD_PRELOAD: shim, PL_DIR: data + '/', PL_LOG: log },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const jobs: number[] = [];
  const results: number[] = [];
  const exited = new Promise((res) => child.once('exit', res));
  await new Promise<void>((res) => {
    let rest = '';
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      for (const l of lines) (l.startsWith('J ') ? jobs : results).push(Number(l.slice(2)));
      if (jobs.length >= acks) {
        child.kill('SIGKILL');
        res();
      }
    });
    child.once('exit', () => res());
  });
  await exited;
  return { jobs, results, ops: existsSync(log) ? parseLog(readFileSync(log)) : [], dir };
}

describe.skipIf(!gcc || process.platform !== 'linux')('power loss (fsync-log shim)', () => {
  const shim = join(mkdtempSync(join(tmpdir(), 'picluster-shim-')), 'fsync-log.so');
  it('full: every acknowledged submission and result survives; normal: acknowledged work is lost', { timeout: 120_000 }, async () => {
    execFileSync('gcc', ['-shared', '-fPIC', '-O1', '-o', shim, join(HERE, 'fsync-log.c'), '-ldl', '-lpthread']);
    const outcome: Record<string, { acked: number; lostJobs: number; lostResults: number }> = {};
    for (const mode of ['full', 'normal'] as const) {
      const run = await crash(mode, shim, 300);
      expect(run.jobs.length, `${mode}: acknowledgments before the kill`).toBeGreaterThanOrEqual(300);
      expect(run.ops.some((o) => o.op === 'W')).toBe(true);
      const after = join(run.dir, 'after');
      rebuild(run.ops, after);
      const store = new SqliteStore(join(after, 'picluster.db'));
      const lostJobs = run.jobs.filter((id) => store.getJob(id) === undefined).length;
      const lostResults = run.results.filter((id) => store.getAttempt(id)?.state !== 'succeeded').length;
      store.close();
      outcome[mode] = { acked: run.jobs.length + run.results.length, lostJobs, lostResults };
      rmSync(run.dir, { recursive: true, force: true });
    }
    console.log(`power loss after SIGKILL: ${JSON.stringify(outcome)}`);
    expect(outcome.full).toMatchObject({ lostJobs: 0, lostResults: 0 });
    expect(outcome.normal!.lostJobs + outcome.normal!.lostResults).toBeGreaterThan(0);
    rmSync(shim, { force: true });
  });
});
