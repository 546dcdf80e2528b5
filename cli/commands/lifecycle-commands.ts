/**
 * Node lifecycle verbs (admin): `reboot`, `power on|off|cycle`, `drain`, `undrain`,
 * `maintenance on|off`, `identify`, `approve`, `remove`, `alerts`, and `rollout` (rolling
 * image upgrade: drain → reboot → verify the image version → next batch; stops at the first
 * failure).
 */
import { readFileSync } from 'node:fs';
import { Cluster, ClusterApiError } from '../../client/cluster.ts';
import type { CommandModule } from '../main.ts';
import { parseFlags, UsageError } from '../args.ts';
import { table } from './client-commands.ts';

const common = { url: { type: 'string' }, token: { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } } as const;
const cluster = (v: { url?: string; token?: string; 'data-dir'?: string }) =>
  new Cluster({ ...(v.url ? { url: v.url } : {}), ...(v.token ? { token: v.token } : {}), ...(v['data-dir'] ? { dataDir: v['data-dir'] } : {}) });
const out = (x: unknown) => process.stdout.write((typeof x === 'string' ? x : JSON.stringify(x, null, 2)) + '\n');

function command(usage: string, fn: (argv: string[]) => Promise<number>): CommandModule {
  return {
    async run(argv) {
      if (argv.includes('--help') || argv.includes('-h')) return (out(usage), 0);
      try {
        return await fn(argv);
      } catch (e) {
        if (e instanceof ClusterApiError) return (process.stderr.write(`picluster: ${e.code}: ${e.message}\n`), e.status === 0 ? 3 : 1);
        if (e instanceof UsageError) return (process.stderr.write(`picluster: ${e.message}\n${usage}\n`), 2);
        throw e;
      }
    },
  };
}

function oneNode(argv: string[], extra: Parameters<typeof parseFlags>[1] = {}) {
  const { values, positionals } = parseFlags(argv, { ...common, ...extra }, true);
  if (positionals.length !== 1) throw new UsageError('name exactly one node');
  return { values: values as Record<string, string | boolean | undefined>, name: positionals[0]! };
}

const simple = (
  action: string,
  usage: string,
  body: (v: Record<string, string | boolean | undefined>) => Record<string, unknown> = () => ({}),
  extra: Parameters<typeof parseFlags>[1] = {},
) =>
  command(usage, async (argv) => {
    const { values, name } = oneNode(argv, extra);
    const r = await cluster(values).nodeAction(name, action, body(values));
    out(values.json ? r : `${name}: ${action} → ${(r.state as string | undefined) ?? (r.node as { state?: string } | undefined)?.state ?? JSON.stringify(r)}`);
    return 0;
  });

export const rebootCommand = simple(
  'reboot',
  'usage: picluster reboot <node> [--kill]   (graceful via the agent; --kill stops running jobs at once)',
  (v) => ({ kill: v.kill === true }),
  { kill: { type: 'boolean' } },
);
export const drainCommand = simple('drain', 'usage: picluster drain <node> [--immediate]', (v) => ({ immediate: v.immediate === true }), {
  immediate: { type: 'boolean' },
});
export const undrainCommand = simple('undrain', 'usage: picluster undrain <node>');
export const identifyCommand = simple('identify', 'usage: picluster identify <node> [--seconds 30]', (v) => (v.seconds ? { seconds: Number(v.seconds) } : {}), {
  seconds: { type: 'string' },
});

export const maintenanceCommand = command('usage: picluster maintenance <on|off> <node>', async (argv) => {
  const { values, positionals } = parseFlags(argv, common, true);
  const [mode, name] = positionals;
  if ((mode !== 'on' && mode !== 'off') || !name || positionals.length !== 2) throw new UsageError('maintenance takes on|off and one node');
  const r = await cluster(values).nodeAction(name, 'maintenance', { on: mode === 'on' });
  out(values.json ? r : `${name}: ${r.state as string}`);
  return 0;
});

export const powerCommand = command(
  "usage: picluster power <on|off|cycle> <node>   (through the node's power driver; journaled and verified)",
  async (argv) => {
    const { values, positionals } = parseFlags(argv, common, true);
    const [action, name] = positionals;
    if (!['on', 'off', 'cycle'].includes(action ?? '') || !name || positionals.length !== 2) throw new UsageError('power takes on|off|cycle and one node');
    const op = await cluster(values).nodeAction(name, `power-${action}`);
    if (values.json) return (out(op), 0);
    out(
      `${name}: power ${action} via ${op.driver as string}: ${op.state as string}${op.verified ? ' (verified)' : ''}${op.detail ? ` — ${op.detail as string}` : ''}`,
    );
    return op.state === 'succeeded' ? 0 : 1;
  },
);

export const approveCommand = command('usage: picluster approve <pending-name> --name <node> [--slots n] [--label k=v]... [--model m]', async (argv) => {
  const { values, positionals } = parseFlags(
    argv,
    { ...common, name: { type: 'string' }, slots: { type: 'string' }, model: { type: 'string' }, label: { type: 'string', multiple: true } },
    true,
  );
  if (positionals.length !== 1 || !values.name) throw new UsageError('approve takes the pending node and --name');
  const labels = Object.fromEntries((values.label ?? []).map((l) => l.split('=', 2) as [string, string]));
  const r = await cluster(values).addNode({
    name: values.name,
    approve: positionals[0],
    ...(values.slots ? { slots: Number(values.slots) } : {}),
    ...(values.model ? { model: values.model } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
  });
  out(values.json ? r : `approved ${positionals[0]} as ${r.name as string}`);
  return 0;
});

export const removeCommand = command('usage: picluster remove <node>   (also rejects a pending node)', async (argv) => {
  const { values, name } = oneNode(argv);
  await cluster(values).removeNode(name);
  out(`removed ${name}`);
  return 0;
});

export const alertsCommand = command('usage: picluster alerts [--all] [--json]', async (argv) => {
  const { values } = parseFlags(argv, { ...common, all: { type: 'boolean' } });
  const r = await cluster(values).alerts(values.all ? undefined : true);
  if (values.json) return (out(r), 0);
  if (r.breakerOpen) out('circuit breaker OPEN: automatic power cycling is paused');
  out(
    table(
      ['ID', 'KIND', 'NODE', 'SEVERITY', 'RAISED', 'MESSAGE'],
      r.alerts.map((a) => [
        a.id as number,
        a.kind as string,
        a.node as string | undefined,
        a.severity as string,
        new Date(a.raisedAt as number).toISOString(),
        a.message as string,
      ]),
    ),
  );
  return 0;
});

interface NodeInfo {
  name: string;
  state: string;
  connected: boolean;
  running: number;
  bootId?: string;
  imageVersion?: string;
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export const rolloutCommand = command(
  `usage: picluster rollout [--batch 1] [--image-version V] [--nodes a,b,c] [--drain-timeout 600] [--boot-timeout 300]

Rolling image upgrade: for each batch of nodes, drain (let running jobs finish), reboot
through the agent, wait for the node to come back with a new boot id reporting the expected
image version (default: image/dist/manifest.json's), undrain, next batch. Stops and reports
at the first node that does not come back right.`,
  async (argv) => {
    const { values } = parseFlags(argv, {
      ...common,
      batch: { type: 'string' },
      'image-version': { type: 'string' },
      nodes: { type: 'string' },
      'drain-timeout': { type: 'string' },
      'boot-timeout': { type: 'string' },
    });
    const c = cluster(values);
    let expected = values['image-version'];
    if (!expected) {
      try {
        expected = (JSON.parse(readFileSync('image/dist/manifest.json', 'utf8')) as { imageVersion?: string }).imageVersion;
      } catch {
        /* no manifest: only the reboot is verified */
      }
    }
    const batch = Math.max(1, Number(values.batch ?? 1));
    const drainMs = Number(values['drain-timeout'] ?? 600) * 1000;
    const bootMs = Number(values['boot-timeout'] ?? 300) * 1000;
    const all = (await c.nodes()) as unknown as NodeInfo[];
    const wanted = values.nodes ? new Set(values.nodes.split(',')) : undefined;
    const targets = all.filter((n) => n.connected && (wanted ? wanted.has(n.name) : n.state !== 'maintenance'));
    out(`rollout: ${targets.length} node(s), batches of ${batch}${expected ? `, expecting image ${expected}` : ''}`);
    for (let i = 0; i < targets.length; i += batch) {
      const group = targets.slice(i, i + batch);
      for (const n of group) await c.nodeAction(n.name, 'drain', {});
      for (const n of group) {
        await until(`${n.name} to drain`, drainMs, async () => {
          const x = (await c.node(n.name)) as unknown as NodeInfo;
          return x.running === 0 ? x : undefined;
        });
        await c.nodeAction(n.name, 'reboot', {});
        out(`  ${n.name}: drained, rebooting`);
      }
      for (const n of group) {
        try {
          const back = await until(`${n.name} to come back`, bootMs, async () => {
            const x = (await c.node(n.name)) as unknown as NodeInfo;
            return x.connected && x.bootId !== n.bootId ? x : undefined;
          });
          if (expected && back.imageVersion !== expected) throw new Error(`came back with image ${back.imageVersion ?? '(none)'}, expected ${expected}`);
          await c.nodeAction(n.name, 'undrain', {});
          out(`  ${n.name}: back${back.imageVersion ? ` on image ${back.imageVersion}` : ''}`);
        } catch (e) {
          // Keep it out of service for a human (a reboot does not keep the drained state).
          await c.nodeAction(n.name, 'drain', {}).catch(() => undefined);
          process.stderr.write(
            `rollout stopped at ${n.name}: ${(e as Error).message} (it is left drained; the remaining ${targets.length - i - group.indexOf(n) - 1} node(s) were not touched)\n`,
          );
          return 1;
        }
      }
    }
    out('rollout complete');
    return 0;
  },
);
