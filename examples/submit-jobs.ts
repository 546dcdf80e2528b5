/**
 * The seed's submit_jobs client: submits a batch of CPU-bound jobs, shows progress while they
 * run, and prints a per-node summary.
 *
 *   node --import tsx examples/submit-jobs.ts [--jobs 40] [--size 2000000] [--url http://master:8080]
 *
 * Each job is a function job (the dispy "computation"): it counts the primes below `size` on
 * the node and returns the count with the time it took there.
 */
import { parseArgs } from 'node:util';
import { Cluster, JobFailedError } from '../client/cluster.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '40' },
    size: { type: 'string', default: '2000000' },
    url: { type: 'string' },
    token: { type: 'string' },
    group: { type: 'string', default: 'primes' },
  },
});

/** Runs on the node: self-contained, no closures. */
function countPrimes(limit: number): { limit: number; primes: number; ms: number } {
  const started = Date.now();
  const sieve = new Uint8Array(limit + 1);
  let primes = 0;
  for (let i = 2; i <= limit; i++) {
    if (sieve[i]) continue;
    primes++;
    for (let j = i * i; j <= limit; j += i) sieve[j] = 1;
  }
  return { limit, primes, ms: Date.now() - started };
}

const cluster = new Cluster({ ...(values.url ? { url: values.url } : {}), ...(values.token ? { token: values.token } : {}) });
const n = Number(values.jobs);
const size = Number(values.size);
const started = Date.now();
const jobs = await cluster.submitMany(Array.from({ length: n }, (_, i) => ({ fn: countPrimes, args: [size + i], group: values.group, name: `primes-${i}` })));
process.stderr.write(`submitted ${jobs.length} jobs (ids ${jobs[0]!.id}..${jobs[jobs.length - 1]!.id})\n`);

let finished = 0;
const perNode = new Map<string, { jobs: number; ms: number }>();
let failed = 0;
await Promise.all(
  jobs.map(async (job) => {
    const r = await job.result();
    finished++;
    if (r.state === 'succeeded') {
      const v = r.value as { ms: number };
      const s = perNode.get(r.node ?? '?') ?? { jobs: 0, ms: 0 };
      s.jobs++;
      s.ms += v.ms;
      perNode.set(r.node ?? '?', s);
    } else {
      failed++;
      process.stderr.write(`\n${new JobFailedError(r).message}\n`);
    }
    process.stderr.write(`\r${finished}/${n} done`);
  }),
);
const wallS = (Date.now() - started) / 1000;
process.stderr.write('\n');
console.log(`\n${n - failed} succeeded, ${failed} failed in ${wallS.toFixed(1)} s (${(n / wallS).toFixed(1)} jobs/s)\n`);
console.log('node'.padEnd(16), 'jobs'.padStart(5), 'avg ms'.padStart(8));
for (const [node, s] of [...perNode].sort()) console.log(node.padEnd(16), String(s.jobs).padStart(5), String(Math.round(s.ms / s.jobs)).padStart(8));
process.exitCode = failed ? 1 : 0;
