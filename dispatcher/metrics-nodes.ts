/**
 * Per-node metrics, read from the Dispatcher's node views at scrape time. RAM-only nodes run no
 * node_exporter: the agent's heartbeat health is what the master exposes for them. Every family
 * is rebuilt on each scrape, so a removed node's series disappear. The `node` label is bounded
 * by the cluster size; `flag` and `state` by fixed lists.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../common/clock.ts';
import type { Dispatcher } from './dispatcher.ts';
import { THROTTLE_FLAGS, decodeThrottled } from './domain/health.ts';
import { NODE_STATES } from './domain/nodes.ts';
import type { NodeView } from './views.ts';

const MB = 1024 * 1024;

type Read = (n: NodeView) => number | undefined;

export function registerNodeMetrics(dispatcher: Dispatcher, registry: Registry, clock: Clock): void {
  // One listNodes() per scrape, shared by every family below: a scrape calls every collect()
  // in the same turn of the event loop, so the cache is dropped at the next one.
  let cache: NodeView[] | undefined;
  const nodes = (): NodeView[] => {
    if (!cache) {
      cache = dispatcher.listNodes();
      setImmediate(() => (cache = undefined));
    }
    return cache;
  };

  const perNode = (name: string, help: string, read: Read): void => {
    new Gauge({
      name,
      help,
      labelNames: ['node'],
      registers: [registry],
      collect() {
        this.reset();
        for (const n of nodes()) {
          const v = read(n);
          if (v !== undefined && Number.isFinite(v)) this.set({ node: n.name }, v);
        }
      },
    });
  };
  /** Monotonic values the agent reports (reset on the node's reboot, which rate() handles). */
  const perNodeCounter = (name: string, help: string, read: Read): void => {
    new Counter({
      name,
      help,
      labelNames: ['node'],
      registers: [registry],
      collect() {
        this.reset();
        for (const n of nodes()) {
          const v = read(n);
          if (v !== undefined && Number.isFinite(v) && v >= 0) this.inc({ node: n.name }, v);
        }
      },
    });
  };

  perNode('picluster_node_up', "Whether the node's agent is connected (1) or not (0)", (n) => (n.connected ? 1 : 0));
  new Gauge({
    name: 'picluster_node_state',
    help: "The node's lifecycle state: 1 for the current state, 0 for the others",
    labelNames: ['node', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const n of nodes()) for (const s of NODE_STATES) this.set({ node: n.name, state: s }, n.state === s ? 1 : 0);
    },
  });
  new Gauge({
    name: 'picluster_node_info',
    help: 'Node identity (value 1): model, arch, agent and image version',
    labelNames: ['node', 'model', 'arch', 'agent_version', 'image_version'],
    registers: [registry],
    collect() {
      this.reset();
      for (const n of nodes()) {
        this.set({ node: n.name, model: n.model ?? '', arch: n.arch ?? '', agent_version: n.agentVersion ?? '', image_version: n.imageVersion ?? '' }, 1);
      }
    },
  });
  perNode('picluster_node_slots', 'Job slots of the node', (n) => n.slots);
  perNode('picluster_node_busy_slots', 'Job slots in use (attempts running on the node)', (n) => n.running);
  perNode('picluster_node_temperature_celsius', 'Hottest thermal zone the agent reported', (n) => n.health?.temperatureC);
  new Gauge({
    name: 'picluster_node_throttled',
    help: 'Raspberry Pi get_throttled flags (1 = set): under_voltage, freq_capped, throttled, soft_temp_limit, each _now and _since_boot',
    labelNames: ['node', 'flag'],
    registers: [registry],
    collect() {
      this.reset();
      for (const n of nodes()) {
        if (n.health?.throttled === undefined) continue;
        const flags = decodeThrottled(n.health.throttled);
        for (const [flag] of THROTTLE_FLAGS) this.set({ node: n.name, flag }, flags[flag] ? 1 : 0);
      }
    },
  });
  perNode('picluster_node_cpu_usage_ratio', "CPU busy fraction (0–1) between the agent's last two /proc/stat samples", (n) =>
    n.health?.cpuPercent === undefined ? undefined : n.health.cpuPercent / 100,
  );
  perNode('picluster_node_cpu_frequency_hertz', 'Current ARM clock of CPU 0', (n) =>
    n.health?.cpuFreqMhz === undefined ? undefined : n.health.cpuFreqMhz * 1e6,
  );
  perNode('picluster_node_load1', '1-minute load average', (n) => n.health?.load1);
  perNode('picluster_node_load5', '5-minute load average', (n) => n.health?.load5);
  perNode('picluster_node_load15', '15-minute load average', (n) => n.health?.load15);
  perNode('picluster_node_memory_total_bytes', 'Memory of the node (RAM-only: this is also its disk)', (n) =>
    (n.health?.memTotalMb ?? n.memoryMb) === undefined ? undefined : (n.health?.memTotalMb ?? n.memoryMb)! * MB,
  );
  perNode('picluster_node_memory_available_bytes', 'MemAvailable of the node', (n) =>
    n.health?.memAvailableMb === undefined ? undefined : n.health.memAvailableMb * MB,
  );
  perNodeCounter('picluster_node_network_receive_bytes_total', 'Bytes received on every interface but lo, since the node booted', (n) => n.health?.netRxBytes);
  perNodeCounter('picluster_node_network_transmit_bytes_total', 'Bytes sent on every interface but lo, since the node booted', (n) => n.health?.netTxBytes);
  perNode('picluster_node_uptime_seconds', 'Seconds since the node booted', (n) => n.health?.uptimeS);
  perNode('picluster_node_last_heartbeat_age_seconds', 'Seconds since the master last heard from the node', (n) =>
    n.lastSeenAt === undefined ? undefined : Math.max(0, (clock.now() - n.lastSeenAt) / 1000),
  );
  perNodeCounter('picluster_node_boots_total', 'Boots of the node the master has seen (agent hellos with a new boot id)', (n) => n.boots);
  new Counter({
    name: 'picluster_node_jobs_total',
    help: 'Attempts that ended on the node, by result (succeeded, failed = every other end)',
    labelNames: ['node', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const n of nodes()) {
        this.inc({ node: n.name, result: 'succeeded' }, n.jobsDone);
        this.inc({ node: n.name, result: 'failed' }, n.jobsFailed);
      }
    },
  });
  perNode(
    'picluster_node_placement_derate',
    'Health derating factor used for placement (1 = healthy; see scheduler.health)',
    (n) => dispatcher.nodePlacement(n.name).derate,
  );
  perNode('picluster_node_placement_skipped', 'Whether placement skips the node for its health (1) or not (0)', (n) =>
    dispatcher.nodePlacement(n.name).status === 'skipped' ? 1 : 0,
  );
}
