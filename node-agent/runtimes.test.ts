import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectRuntimes, runtimesWithin } from './runtimes.ts';

const dir = mkdtempSync(join(tmpdir(), 'runtimes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const script = (name: string, body: string): string => {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
};

describe('detectRuntimes', () => {
  const hostPython = (process.env.PATH ?? '').split(':').some((d) => existsSync(join(d, 'python3')));
  it.skipIf(!hostPython)("reports the host python3's version as platform.python_version() says it", async () => {
    const want = execFileSync('python3', ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
    expect(await detectRuntimes('python3')).toEqual({ node: process.versions.node, python3: want });
  });

  it('asks python without site, environment or imports', async () => {
    const echo = script('echo-args', 'echo "$*"');
    expect((await detectRuntimes(echo)).python3).toBe('-I -S -c import sys; print(sys.version.split()[0])');
  });

  it('leaves out a python that is absent, fails, or does not answer in time', async () => {
    expect(await detectRuntimes(null)).toEqual({ node: process.versions.node });
    expect(await detectRuntimes(join(dir, 'no-such-python'))).toEqual({ node: process.versions.node });
    expect(await detectRuntimes(script('fails', 'exit 3'))).toEqual({ node: process.versions.node });
    expect(await detectRuntimes(script('hangs', 'exec sleep 30'), 100)).toEqual({ node: process.versions.node });
  });

  it('the hello takes the probe when it has answered, and only node when it has not within the bound', async () => {
    const answered = Promise.resolve({ node: process.versions.node, python3: '3.11.2' });
    expect(await runtimesWithin(answered, 10_000)).toEqual({ node: process.versions.node, python3: '3.11.2' });
    expect(await runtimesWithin(new Promise(() => {}), 20)).toEqual({ node: process.versions.node });
  });
});
