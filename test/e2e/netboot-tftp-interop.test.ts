/**
 * Interop: real TFTP clients (curl, atftp, tftp-hpa) fetch from picluster's TFTP server
 * on 127.0.0.1 and must get byte-identical files (sha256), including a 100 MB file at
 * blksize 512: 195,313 blocks, so the 16-bit block number rolls over (65535 → 0) twice.
 * Each client is skipped, with the reason, when it is not installed (CI installs them:
 * .ci/packages.txt).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../../netboot/tftp/testing/harness.ts';

const run = promisify(execFile);
const which = (tool: string): boolean => ['/usr/bin', '/usr/sbin', '/bin', '/usr/local/bin'].some((d) => existsSync(join(d, tool)));
const hasCurl = which('curl');
const hasAtftp = which('atftp');
const hasTftpHpa = which('tftp') && !hasBusyboxTftpOnly();
function hasBusyboxTftpOnly(): boolean {
  // tftp-hpa's client is /usr/bin/tftp; make sure it is not something else by that name.
  try {
    return !readFileSync('/usr/bin/tftp').includes('tftp-hpa');
  } catch {
    return true;
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let h: Harness;
let out: string;
const files: Record<string, Buffer> = {};

beforeAll(async () => {
  h = await startHarness({ tftp: { blksizeMax: 1468, windowsizeMax: 64 } });
  // The engine asked for (PICLUSTER_TFTP_ENGINE, else the default) must be the one running: no silent fallback.
  expect(h.server.engine).toBe(process.env.PICLUSTER_TFTP_ENGINE ?? 'native');
  out = mkdtempSync(join(tmpdir(), 'picluster-tftp-interop-'));
  files['small.bin'] = randomBytes(1234);
  files['empty.bin'] = Buffer.alloc(0);
  files['exact.bin'] = randomBytes(512 * 8);
  files['f5m.bin'] = randomBytes(5 * 1024 * 1024 + 7);
  files['f100m.bin'] = randomBytes(100 * 1000 * 1000);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(h.root, name), data);
});
afterAll(async () => {
  await h?.close();
  if (out) rmSync(out, { recursive: true, force: true });
});

async function expectSame(file: string, local: string): Promise<void> {
  expect(sha(readFileSync(local))).toBe(sha(files[file]!));
  const e = await h.event((x) => x.detail?.file === file && x.outcome !== 'probe' && !x.detail?.seen);
  (e.detail as Record<string, unknown>).seen = true; // each fetch matches its own event
  expect(e.outcome).toBe('complete');
}

const url = (file: string): string => `tftp://127.0.0.1:${h.port}/${file}`;

describe.skipIf(!hasCurl)('curl (tftp://) — skipped when curl is not installed', () => {
  // No empty file here: curl 7.88 rejects `tsize 0` in an OACK ("invalid tsize") against
  // dnsmasq and tftpd-hpa alike; tftp-hpa covers the empty file below.
  it.each(['small.bin', 'exact.bin', 'f5m.bin'])('fetches %s with default options', async (file) => {
    const local = join(out, `curl-${file}`);
    await run('curl', ['-sS', '--max-time', '60', '-o', local, url(file)]);
    await expectSame(file, local);
  });
  it('fetches with --tftp-blksize 1468', async () => {
    const local = join(out, 'curl-1468');
    await run('curl', ['-sS', '--max-time', '60', '--tftp-blksize', '1468', '-o', local, url('f5m.bin')]);
    await expectSame('f5m.bin', local);
    expect(h.events.at(-1)?.detail?.blksize).toBe(1468);
  });
  it('fetches 100 MB at blksize 512 across the block-number rollover', async () => {
    const local = join(out, 'curl-100m');
    await run('curl', ['-sS', '--max-time', '170', '-o', local, url('f100m.bin')]);
    await expectSame('f100m.bin', local);
  }, 180_000);
  it('gets a TFTP error for a missing file', async () => {
    await expect(run('curl', ['-sS', '--max-time', '20', '-o', join(out, 'x'), url('missing.bin')])).rejects.toThrow();
    expect(h.events.at(-1)).toMatchObject({ outcome: 'not-found' });
  });
});

describe.skipIf(!hasAtftp)('atftp — skipped when atftp is not installed', () => {
  it.each([
    ['lock-step, no options', []],
    ['blksize 1468', ['--option', 'blksize 1468']],
    ['windowsize 8', ['--option', 'windowsize 8', '--option', 'blksize 1468']],
    ['windowsize 16 + tsize', ['--option', 'windowsize 16', '--option', 'tsize 0']],
  ])('fetches with %s', async (_name, opts) => {
    const local = join(out, `atftp-${opts.join('-').replace(/\W+/g, '_')}`);
    await run('atftp', ['-g', '-r', 'f5m.bin', '-l', local, ...opts, '127.0.0.1', String(h.port)], { timeout: 60_000 });
    await expectSame('f5m.bin', local);
  });
  it('fetches 100 MB at blksize 512, windowsize 8, across the rollover', async () => {
    const local = join(out, 'atftp-100m');
    await run('atftp', ['-g', '-r', 'f100m.bin', '-l', local, '--option', 'windowsize 8', '127.0.0.1', String(h.port)], { timeout: 170_000 });
    await expectSame('f100m.bin', local);
    expect(h.events.at(-1)?.detail).toMatchObject({ windowsize: 8, blksize: 512 });
  }, 180_000);
});

describe.skipIf(!hasTftpHpa)('tftp-hpa — skipped when tftp-hpa is not installed', () => {
  it.each(['small.bin', 'empty.bin', 'exact.bin', 'f5m.bin'])('fetches %s', async (file) => {
    const local = join(out, `hpa-${file}`);
    await run('tftp', ['127.0.0.1', String(h.port), '-m', 'binary', '-c', 'get', file, local], { timeout: 60_000 });
    await expectSame(file, local);
  });
  it('fetches 100 MB lock-step at 512 (no options) across the rollover', async () => {
    const local = join(out, 'hpa-100m');
    await run('tftp', ['127.0.0.1', String(h.port), '-m', 'binary', '-c', 'get', 'f100m.bin', local], { timeout: 170_000 });
    await expectSame('f100m.bin', local);
    expect(h.events.at(-1)?.detail).toMatchObject({ windowsize: 1, blksize: 512 });
  }, 180_000);
});
