/**
 * `npm run fuzz [-- --runs N] [--only name,…]`: every surface of fuzz/surfaces.ts (pure decoders,
 * decisions, validators, loaders) and of fuzz/live.ts (a master over real sockets) with N
 * generated inputs each (default 1,000,000). Prints inputs, time and crashes per surface and the
 * peak RSS; exits 1 on any crash. A failing pure input is shrunk by fast-check and written to
 * fuzz/fixtures/<surface>.<hash>.json, which fuzz/surfaces.test.ts then replays in `npm test`.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { silentLogger } from '../common/logger.ts';
import { installProcessGuard } from '../dispatcher/process-guard.ts';
import { fuzzAgent, fuzzRest, fuzzShell, fuzzUi, withLiveMaster } from './live.ts';
import { PURE_SURFACES } from './surfaces.ts';
import { startWatchdog } from './watchdog.ts';

const { values } = parseArgs({ options: { runs: { type: 'string' }, only: { type: 'string' }, seed: { type: 'string' } } });
const RUNS = Number(values.runs ?? process.env.FUZZ_RUNS ?? 1_000_000);
const SEED = Number(values.seed ?? 20261202);
const only = values.only ? new Set(values.only.split(',')) : undefined;
const wanted = (name: string) => !only || only.has(name);

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
sampler.unref();
const escapes: unknown[] = [];
const guard = installProcessGuard(silentLogger(), (_kind, e) => escapes.push(e));

interface Row {
  surface: string;
  inputs: number;
  seconds: number;
  crashes: number;
  note?: string;
}
const rows: Row[] = [];
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
const print = (r: Row) =>
  process.stdout.write(
    `${r.surface.padEnd(28)} ${String(r.inputs).padStart(9)} inputs  ${r.seconds.toFixed(1).padStart(7)} s  ${r.crashes} crashes  rss ${mib(process.memoryUsage().rss)}${r.note ? `  ${r.note}` : ''}\n`,
  );

for (const surface of PURE_SURFACES) {
  if (!wanted(surface.name)) continue;
  const t0 = performance.now();
  const result = fc.check(
    fc.property(surface.arbitrary, (i) => surface.check(i)),
    { numRuns: RUNS, seed: SEED },
  );
  const row: Row = { surface: surface.name, inputs: result.numRuns, seconds: (performance.now() - t0) / 1000, crashes: result.failed ? 1 : 0 };
  if (result.failed) {
    const input = result.counterexample?.[0];
    const json = Buffer.isBuffer(input) ? { bytes: (input as Buffer).toString('hex') } : { input };
    const file = new URL(`./fixtures/${surface.name}.${createHash('sha256').update(JSON.stringify(json)).digest('hex').slice(0, 12)}.json`, import.meta.url);
    writeFileSync(file, JSON.stringify({ ...json, error: String(result.errorInstance) }, null, 2) + '\n');
    row.note = `minimised input kept in ${file.pathname}`;
  }
  rows.push(row);
  print(row);
}

const live = [
  ['live-agent', fuzzAgent],
  ['live-ui', fuzzUi],
  ['live-shell', fuzzShell],
  ['live-rest', fuzzRest],
] as const;
if (live.some(([n]) => wanted(n))) {
  // The live master shares this thread: a blocked event loop is reported (and the run killed), not waited on.
  const watchdog = startWatchdog();
  await withLiveMaster(async (m) => {
    for (const [name, run] of live) {
      if (!wanted(name)) continue;
      const before = escapes.length;
      const t0 = performance.now();
      let crashes = 0;
      let note: string;
      try {
        watchdog.note(`${name} (seed ${SEED})`);
        const r = await run(m, RUNS, SEED, (what) => watchdog.note(`${name}: ${what}`));
        note = `${r.reconnects} reconnects${'byStatus' in r ? ` status ${JSON.stringify(r.byStatus)}` : ''}`;
      } catch (e) {
        crashes++;
        note = `failed: ${String(e)}`;
      }
      const health = await fetch(`${m.httpUrl}/health`).then(
        (r) => r.status,
        () => 0,
      );
      if (health !== 200) {
        crashes++;
        note += ` /health=${health}`;
      }
      crashes += escapes.length - before;
      const row: Row = { surface: name, inputs: RUNS, seconds: (performance.now() - t0) / 1000, crashes, note };
      rows.push(row);
      print(row);
    }
  });
  watchdog.stop();
}

guard.uninstall();
peakRss = Math.max(peakRss, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
const total = rows.reduce((n, r) => n + r.crashes, 0);
process.stdout.write(`\n${rows.length} surfaces, ${rows.reduce((n, r) => n + r.inputs, 0)} inputs, ${total} crashes, peak RSS ${mib(peakRss)}\n`);
process.exit(total ? 1 : 0);
