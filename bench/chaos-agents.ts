/**
 * The chaos run's agent process (run inside the agents' network namespace): a Fleet
 * (simulate/fleet.ts) of virtual agents on the real protocol, driven by JSON lines on stdin —
 * `{"op":"crash"|"freeze"|"thaw"|"drop"|"release","agents":[i,…]}` (indexes into the fleet;
 * every agent starts held — connected, pulling nothing — until `release`) — and
 * reporting JSON lines on stdout: `{"ready":true}` once every agent is welcomed, then
 * `{"stats":…}` every second. SIGTERM stops it.
 */
import { createInterface } from 'node:readline';
import { Fleet } from '../simulate/fleet.ts';

export interface AgentsCommand {
  readonly op: 'crash' | 'freeze' | 'thaw' | 'drop' | 'release';
  readonly agents: readonly number[];
}

const [url, secret, nodes, seed] = process.argv.slice(2);
if (!url || !secret || !nodes) throw new Error('usage: chaos-agents.ts <master url> <cluster secret> <nodes> [seed]');
const fleet = new Fleet({ url, clusterSecret: secret, nodes: Number(nodes), prefix: 'chaos', concurrency: 32, seed: Number(seed ?? 1) });
for (const a of fleet.agents) a.hold();
const out = (m: unknown): void => void process.stdout.write(`${JSON.stringify(m)}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as AgentsCommand;
  for (const i of c.agents) {
    const a = fleet.agents[i];
    if (!a) continue;
    if (c.op === 'crash') a.crash();
    else if (c.op === 'freeze') a.freeze();
    else if (c.op === 'thaw') a.thaw();
    else if (c.op === 'release') a.release();
    else a.dropConnection();
  }
});
const tick = setInterval(() => out({ stats: fleet.stats() }), 1000);
process.on('SIGTERM', () => {
  clearInterval(tick);
  fleet.stop();
  setImmediate(() => process.exit(0));
});
try {
  await fleet.start();
  out({ ready: true });
} catch (e) {
  out({ failed: `${(e as Error).message}; ${fleet.refusals.join('; ')}` });
  process.exit(1);
}
