/**
 * One build at a time per cache directory, across processes (the e2e suites and a developer's
 * `npm run build-image` can overlap): an atomic mkdir lock holding the owner's pid. A lock
 * whose owner is gone is taken over.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { BuildStepError } from './errors.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withBuildLock<T>(
  cacheDir: string,
  fn: () => Promise<T>,
  options: { timeoutMs?: number; onWait?: (ownerPid: number) => void } = {},
): Promise<T> {
  mkdirSync(cacheDir, { recursive: true });
  const dir = join(cacheDir, 'build.lock');
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  let told = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), `${process.pid}\n`);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8').trim());
      } catch {
        // the owner is between mkdir and writing its pid
      }
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new BuildStepError('build lock', `another build (pid ${owner}) holds ${dir}`);
      if (!told && Number.isInteger(owner)) {
        options.onWait?.(owner);
        told = true;
      }
      // polling a lock another process holds: there is no event to wait on
      await delay(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
