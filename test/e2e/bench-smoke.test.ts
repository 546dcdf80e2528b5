/**
 * The benches run (issue 13: "CI may run each once on a small size to prove it works"):
 * bench:tftp and bench:bootstorm on tiny sizes, each against its real peers, must exit 0,
 * print their ratios and write their JSON and SVG. Not timed: the numbers are not checked,
 * only that every server answered every client. Needs root, iproute2 (ip, tc), curl, atftp,
 * dnsmasq, tftpd-hpa (CI installs them: .ci/packages.txt); skips with the reason otherwise.
 * bench:dispatch --peer bullmq (picluster vs BullMQ on a redis-server it starts) needs only
 * redis-server, no root.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = new URL('../../', import.meta.url).pathname;
const has = (tool: string): boolean => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, tool)));
const redisMissing = has('redis-server') ? undefined : 'missing redis-server';
const missing = ['ip', 'tc', 'curl', 'atftp', 'dnsmasq', 'in.tftpd'].filter((t) => !has(t));
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : missing.length ? `missing ${missing.join(', ')}` : undefined;

const out = mkdtempSync(join(tmpdir(), 'picluster-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const bench = (script: string, args: string[]): Promise<{ stdout: string }> =>
  run(process.execPath, ['--import', 'tsx', join(REPO, 'bench', script), ...args], { cwd: REPO, timeout: 170_000, maxBuffer: 10 * 1024 * 1024 });

describe.skipIf(skip !== undefined)(`bench smoke runs${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('bench:tftp on a 2 MB file against dnsmasq and tftpd-hpa', { timeout: 180_000 }, async () => {
    const json = join(out, 'tftp.json');
    const { stdout } = await bench('tftp.ts', ['--size-mb', '2', '--runs', '1', '--concurrent', '3', '--json', json, '--svg', join(out, 'tftp.svg')]);
    expect(stdout).toMatch(/lock-step curl blksize 1468 .* \d+\.\d\dx/);
    const r = JSON.parse(readFileSync(json, 'utf8')) as { results: Record<string, Record<string, number>> };
    expect(Object.keys(r.results).sort()).toEqual(['dnsmasq', 'picluster-js', 'picluster-native', 'tftpd-hpa']);
    for (const server of Object.values(r.results)) {
      expect(Object.keys(server)).toHaveLength(4);
      for (const v of Object.values(server)) expect(v).toBeGreaterThan(0);
    }
    expect(readFileSync(join(out, 'tftp.svg'), 'utf8')).toMatch(/^<svg[\s\S]*picluster[\s\S]*<\/svg>/);
  });

  it('bench:bootstorm with 6 clients over a shaped veth, picluster and dnsmasq, no failures', { timeout: 180_000 }, async () => {
    const json = join(out, 'bootstorm.json');
    const { stdout } = await bench('bootstorm.ts', [
      '--clients',
      '6',
      '--kernel-mb',
      '1',
      '--initramfs-mb',
      '0.3',
      '--runtime-mb',
      '0.5',
      '--json',
      json,
      '--svg',
      join(out, 'bootstorm.svg'),
    ]);
    expect(stdout).toMatch(/picluster \/ dnsmasq time: \d+\.\d\dx/);
    const r = JSON.parse(readFileSync(json, 'utf8')) as { rows: { server: string; failures: number; allFilesS: number }[] };
    expect(r.rows.map((x) => x.server)).toEqual(['picluster', 'dnsmasq']);
    for (const row of r.rows) {
      expect(row.failures).toBe(0);
      expect(row.allFilesS).toBeGreaterThan(0);
    }
    expect(readFileSync(join(out, 'bootstorm.svg'), 'utf8')).toMatch(/<path [\s\S]*<path /);
  });
});

describe.skipIf(redisMissing !== undefined)(`bench:dispatch smoke run${redisMissing ? ` — skipped: ${redisMissing}` : ''}`, () => {
  it('bench:dispatch --peer bullmq, 2 rounds of 500 jobs to 5 agents, both complete every job', { timeout: 180_000 }, async () => {
    const json = join(out, 'dispatch.json');
    const args = [
      '--peer',
      'bullmq',
      '--rounds',
      '2',
      '--agents',
      '5',
      '--jobs',
      '500',
      '--latency-jobs',
      '100',
      '--json',
      json,
      '--svg',
      join(out, 'dispatch.svg'),
    ];
    const { stdout } = await bench('dispatch.ts', args);
    expect(stdout).toMatch(/picluster \/ bullmq throughput \d+\.\d\dx/);
    const r = JSON.parse(readFileSync(json, 'utf8')) as { rounds: { system: string; round: number; jobsPerSecond: number; dispatchMs: { jobs: number } }[] };
    // Alternating: picluster first in round 1, BullMQ first in round 2.
    expect(r.rounds.map((x) => `${x.round}:${x.system}`)).toEqual(['0:picluster', '0:bullmq', '1:bullmq', '1:picluster']);
    for (const round of r.rounds) {
      expect(round.jobsPerSecond).toBeGreaterThan(0);
      expect(round.dispatchMs.jobs).toBe(100);
    }
    expect(readFileSync(join(out, 'dispatch.svg'), 'utf8')).toMatch(/^<svg[\s\S]*bullmq[\s\S]*<\/svg>/);
  });
});
