/**
 * `npm run chaos`: chaos at scale against one real master (bench/chaos-run.ts). Prints a
 * summary table; writes the result as JSON and an SVG of the master's RSS and the jobs done over
 * time. Exits 1 when a job was lost or a result accepted twice. Needs root, iproute2, nftables.
 *
 *   npm run chaos -- --agents 1000 --jobs 50000 --master-kills 20 --cuts 3 --disk-fulls 2 --seed 42 \
 *     --json docs/bench/chaos.json --svg docs/bench/chaos.svg
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chaosUnavailable } from './chaos-env.ts';
import { summaryTable } from './chaos-plan.ts';
import { abortChaos, runChaos, type ChaosResult } from './chaos-run.ts';
import { lineChartSvg } from './plot.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '1000' },
    jobs: { type: 'string', default: '50000' },
    'master-kills': { type: 'string', default: '20' },
    cuts: { type: 'string', default: '3' },
    'disk-fulls': { type: 'string', default: '2' },
    seed: { type: 'string' },
    'job-ms': { type: 'string', default: '200,2000' },
    'agent-chaos-ms': { type: 'string', default: '1000' },
    'tmpfs-mb': { type: 'string', default: '256' },
    'timeout-s': { type: 'string', default: '3600' },
    json: { type: 'string', default: 'chaos.json' },
    svg: { type: 'string', default: 'chaos.svg' },
  },
});

const why = chaosUnavailable();
if (why) {
  console.error(`chaos: ${why}`);
  process.exit(2);
}
const seed = values.seed ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const [jobMin, jobMax] = values['job-ms'].split(',').map(Number) as [number, number];
console.log(`chaos: seed ${seed} (repeat with --seed ${seed})`);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    console.error(`chaos: ${sig}: stopping the master and agents, removing namespaces and the tmpfs`);
    void abortChaos().finally(() => process.exit(130));
  });
const r = await runChaos({
  agents: Number(values.agents),
  jobs: Number(values.jobs),
  masterKills: Number(values['master-kills']),
  cuts: Number(values.cuts),
  diskFulls: Number(values['disk-fulls']),
  seed,
  jobMs: [jobMin, jobMax ?? jobMin],
  agentChaosMs: Number(values['agent-chaos-ms']),
  tmpfsMb: Number(values['tmpfs-mb']),
  timeoutMs: Number(values['timeout-s']) * 1000,
  log: (l) => console.log(l),
});

writeFileSync(values.json, `${JSON.stringify(r, null, 2)}\n`);
writeFileSync(values.svg, chaosSvg(r));
console.log(`\n${summaryTable(summaryRows(r))}\n\nwrote ${values.json}, ${values.svg}`);
process.exit(r.store.lost === 0 && r.store.doubleAccepted === 0 ? 0 : 1);

function summaryRows(r: ChaosResult): [string, string | number][] {
  const c = r.counts;
  return [
    ['seed', String(r.options.seed)],
    ['agents', r.options.agents],
    ['jobs', r.options.jobs],
    ['master SIGKILLs', c.masterKills ?? 0],
    ['agent crashes', c.agentCrashes ?? 0],
    ['agent freezes', c.agentFreezes ?? 0],
    ['reconnect storms (links dropped)', `${c.storms ?? 0} (${c.stormDrops ?? 0})`],
    ['link cuts (nft drop)', c.cuts ?? 0],
    ['disk-full episodes (507s seen)', `${c.diskFulls ?? 0} (${c.refused507 ?? 0})`],
    ['jobs succeeded exactly once', r.store.succeededOnce],
    ['jobs lost', r.store.lost],
    ['results double-accepted', r.store.doubleAccepted],
    ['stale results (stored)', r.store.staleResults],
    ['attempts lost with their node', r.store.nodeLostAttempts],
    ['attempts', r.store.attempts],
    ['master RSS MB min / max / last', `${r.rssMb.min.toFixed(0)} / ${r.rssMb.max.toFixed(0)} / ${r.rssMb.last.toFixed(0)}`],
    ['master RSS MB max outside disk-full', r.rssMb.maxOutsideDiskFull.toFixed(0)],
    ['duration s', r.durationS.toFixed(0)],
  ];
}

function chaosSvg(r: ChaosResult): string {
  const per = Math.max(1, 10 ** Math.round(Math.log10(Math.max(1, r.options.jobs / Math.max(1, r.rssMb.max)))));
  return lineChartSvg({
    title: `chaos: ${r.options.agents} agents, ${r.options.jobs} jobs, ${r.counts.masterKills} master kills (seed ${r.options.seed})`,
    xLabel: 'seconds',
    yLabel: `RSS MB / jobs done ÷ ${per}`,
    series: [
      { name: 'master RSS MB', points: r.samples.filter((s) => s.rssMb !== undefined).map((s) => [s.t, s.rssMb!] as const) },
      { name: `jobs done ÷ ${per}`, points: r.samples.map((s) => [s.t, s.done / per] as const) },
    ],
    markers: r.events.map((e) => ({ x: e.t, label: e.kind === 'kill' ? 'K' : e.kind === 'cut' ? 'cut' : 'disk' })),
  });
}
