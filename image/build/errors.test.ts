import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run as buildImageCommand } from '../../cli/commands/build-image.ts';
import { PrivateApt } from './apt.ts';
import { DiskFullError, isDiskFull, RegistryUnreachableError, ToolMissingError, UnsupportedArchError, BuildStepError } from './errors.ts';
import { parseArch } from './inputs.ts';
import { failure, run } from './proc.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('build-image errors', () => {
  it.each([['sparc'], ['armhf'], ['']])('UNSUPPORTED_ARCH for --arch %j', async (arch) => {
    expect(() => parseArch(arch)).toThrow(UnsupportedArchError);
    await expect(buildImageCommand(['--arch', arch || 'x'])).rejects.toMatchObject({ code: 'UNSUPPORTED_ARCH' });
  });

  it('DISK_FULL when a tool reports ENOSPC, and for ENOSPC/EDQUOT errnos', () => {
    const e = failure(
      'mksquashfs',
      { code: 1, stdout: '', stderr: 'Write failed because No space left on device\n' },
      { step: 'mksquashfs', writes: '/x/runtime.squashfs' },
    );
    expect(e).toBeInstanceOf(DiskFullError);
    expect((e as DiskFullError).code).toBe('DISK_FULL');
    expect(e.message).toContain('/x/runtime.squashfs');
    expect(isDiskFull(Object.assign(new Error('x'), { code: 'ENOSPC' }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('x'), { code: 'EDQUOT' }))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
  });

  it('BUILD_STEP_FAILED with the tail of stderr otherwise', () => {
    const e = failure('depmod', { code: 2, stdout: '', stderr: 'depmod: ERROR: bad\n' }, { step: 'depmod' });
    expect(e).toBeInstanceOf(BuildStepError);
    expect(e.message).toMatch(/depmod exited 2: depmod: ERROR: bad/);
  });

  it('TOOL_MISSING names the Debian package', async () => {
    await expect(run('mksquashfs-not-installed-here', [], { step: 't' })).rejects.toBeInstanceOf(ToolMissingError);
  });

  const haveApt = !spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).error;
  it.skipIf(!haveApt)(
    'REGISTRY_UNREACHABLE when the archive cannot be reached and nothing is cached',
    async () => {
      const cache = mkdtempSync(join(tmpdir(), 'apt-unreachable-'));
      dirs.push(cache);
      // a closed port on loopback: refused at once, no traffic leaves the machine
      const apt = new PrivateApt(cache, 'arm64', [{ uri: 'http://127.0.0.1:9/debian', suites: ['bookworm'] }]);
      await expect(apt.update(0)).rejects.toBeInstanceOf(RegistryUnreachableError);
    },
    60_000,
  );
});
