/**
 * The Grafana dashboards, written as code and rendered to `dashboards/*.json` (what Grafana's
 * file provisioning loads): `node --import tsx monitoring/grafana/dashboards.ts`.
 * `monitoring/monitoring.test.ts` fails when the JSON is stale, and the e2e test checks every
 * metric name used here against a real scrape of a master.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { renderDashboard, stat, t, ts, type DashboardSpec } from './panels.ts';

export { DATASOURCE } from './panels.ts';

const STATES = [
  { value: '1', text: 'up', color: 'green' },
  { value: '0', text: 'down', color: 'red' },
];

export const DASHBOARDS: Record<string, DashboardSpec> = {
  'cluster-overview': {
    uid: 'picluster-overview',
    title: 'picluster / Cluster overview',
    description: 'Nodes, slots, queue, job throughput and node health at a glance.',
    rows: [
      [
        stat('Master', 'max(up{job="picluster-master"})', 'none', {
          mappings: STATES,
          thresholds: [
            [0, 'red'],
            [1, 'green'],
          ],
        }),
        stat('Nodes up', 'sum(picluster_node_up)'),
        stat('Nodes lost / quarantined', 'sum(picluster_nodes{state=~"lost|quarantined"})', 'short', { thresholds: [[1, 'red']] }),
        stat('Slots busy', 'sum(picluster_slots{kind="busy"}) / clamp_min(sum(picluster_slots{kind="total"}), 1)', 'percentunit', {
          thresholds: [[0.9, 'orange']],
        }),
        stat('Queue (ready)', 'sum(picluster_queue_depth)', 'short', { thresholds: [[100, 'orange']] }),
        stat('Under-voltage now', 'sum(picluster_node_throttled{flag="under_voltage_now"})', 'short', { thresholds: [[1, 'red']] }),
      ],
      [
        ts('Slots', [t('sum(picluster_slots{kind="total"})', 'total'), t('sum(picluster_slots{kind="busy"})', 'busy')]),
        ts('Nodes by state', [t('picluster_nodes > 0', '{{state}}')], 'short', { stack: true }),
        ts('Jobs finished per minute', [t('sum by (state) (rate(picluster_jobs_finished_total[5m])) * 60', '{{state}}')], 'short', { stack: true }),
        ts('Queue depth by group', [t('picluster_queue_depth', '{{group}}'), t('picluster_queue_delayed_jobs', 'waiting for retry')]),
        ts('Temperature', [t('picluster_node_temperature_celsius', '{{node}}')], 'celsius', {
          thresholds: [
            [70, 'orange'],
            [80, 'red'],
          ],
        }),
        ts('CPU busy', [t('picluster_node_cpu_usage_ratio', '{{node}}')], 'percentunit'),
      ],
      [
        {
          title: 'Nodes',
          kind: 'table',
          w: 24,
          h: 9,
          targets: [
            t('picluster_node_up', 'up'),
            t('picluster_node_temperature_celsius', 'temp'),
            t('picluster_node_busy_slots', 'busy'),
            t('picluster_node_slots', 'slots'),
            t('picluster_node_placement_derate', 'derate'),
            t('picluster_node_last_heartbeat_age_seconds', 'heartbeat age'),
          ],
        },
      ],
      [
        ts(
          'Master process: CPU and memory',
          [
            t('rate(picluster_process_cpu_seconds_total{job="picluster-master"}[5m])', 'cpu seconds/s'),
            t('picluster_process_resident_memory_bytes{job="picluster-master"} / 1e9', 'RSS GB'),
          ],
          'short',
          { w: 12 },
        ),
        ts('Master event loop lag p99', [t('picluster_nodejs_eventloop_lag_p99_seconds', 'p99')], 's', { w: 12 }),
      ],
    ],
  },
  'node-detail': {
    uid: 'picluster-node',
    title: 'picluster / Node detail',
    description: 'One node: health as its agent reports it (temperature, throttling, CPU, memory, network), slots and jobs.',
    variables: [{ name: 'node', label: 'Node', query: 'label_values(picluster_node_up, node)' }],
    rows: [
      [
        stat('Agent', 'picluster_node_up{node="$node"}', 'none', {
          mappings: STATES,
          thresholds: [
            [0, 'red'],
            [1, 'green'],
          ],
        }),
        {
          title: 'State',
          kind: 'stat',
          w: 4,
          h: 4,
          targets: [{ expr: 'picluster_node_state{node="$node"} == 1', legend: '{{state}}', instant: true }],
          unit: 'none',
        },
        stat('Temperature', 'picluster_node_temperature_celsius{node="$node"}', 'celsius', {
          thresholds: [
            [70, 'orange'],
            [80, 'red'],
          ],
        }),
        stat('Uptime', 'picluster_node_uptime_seconds{node="$node"}', 's'),
        stat('Boots seen', 'picluster_node_boots_total{node="$node"}'),
        stat('Placement derate', 'picluster_node_placement_derate{node="$node"}', 'none', {
          thresholds: [
            [1.01, 'orange'],
            [2, 'red'],
          ],
        }),
      ],
      [
        ts('Temperature', [t('picluster_node_temperature_celsius{node="$node"}', 'temp')], 'celsius', {
          thresholds: [
            [70, 'orange'],
            [80, 'red'],
          ],
        }),
        {
          title: 'Throttling flags',
          kind: 'state-timeline',
          targets: [t('picluster_node_throttled{node="$node"}', '{{flag}}')],
          unit: 'none',
          mappings: [
            { value: '0', text: 'ok', color: 'green' },
            { value: '1', text: 'set', color: 'red' },
          ],
        },
        ts('CPU busy and clock', [t('picluster_node_cpu_usage_ratio{node="$node"}', 'busy')], 'percentunit'),
        ts('ARM clock', [t('picluster_node_cpu_frequency_hertz{node="$node"}', 'cpu0')], 'hertz'),
        ts('Load', [
          t('picluster_node_load1{node="$node"}', '1m'),
          t('picluster_node_load5{node="$node"}', '5m'),
          t('picluster_node_load15{node="$node"}', '15m'),
        ]),
        ts(
          'Memory (RAM is also the disk)',
          [t('picluster_node_memory_total_bytes{node="$node"}', 'total'), t('picluster_node_memory_available_bytes{node="$node"}', 'available')],
          'bytes',
        ),
        ts(
          'Network',
          [
            t('rate(picluster_node_network_receive_bytes_total{node="$node"}[5m])', 'receive'),
            t('rate(picluster_node_network_transmit_bytes_total{node="$node"}[5m])', 'transmit'),
          ],
          'Bps',
        ),
        ts('Slots', [t('picluster_node_slots{node="$node"}', 'slots'), t('picluster_node_busy_slots{node="$node"}', 'busy')]),
        ts('Attempts ended per minute', [t('rate(picluster_node_jobs_total{node="$node"}[5m]) * 60', '{{result}}')], 'short', { stack: true }),
        ts('Heartbeat age', [t('picluster_node_last_heartbeat_age_seconds{node="$node"}', 'age')], 's'),
      ],
    ],
  },
  jobs: {
    uid: 'picluster-jobs',
    title: 'picluster / Jobs',
    description: 'Submissions, outcomes, retries, dispatch latency and run time, queue depth.',
    rows: [
      [
        stat('Running', 'picluster_jobs{state="running"}'),
        stat('Queued', 'picluster_jobs{state="queued"}'),
        stat('Submitted (1h)', 'sum(increase(picluster_jobs_submitted_total[1h]))'),
        stat('Failed (1h)', 'sum(increase(picluster_jobs_finished_total{state="failed"}[1h]))', 'short', { thresholds: [[1, 'orange']] }),
        stat('Retries (1h)', 'sum(increase(picluster_job_retries_total[1h]))'),
        stat('Dispatch p95', 'histogram_quantile(0.95, sum by (le) (rate(picluster_dispatch_latency_seconds_bucket[5m])))', 's'),
      ],
      [
        ts('Submitted and finished per minute', [
          t('sum(rate(picluster_jobs_submitted_total[5m])) * 60', 'submitted'),
          t('sum by (state) (rate(picluster_jobs_finished_total[5m])) * 60', '{{state}}'),
        ]),
        ts('Attempts ended per minute, by outcome', [t('sum by (outcome) (rate(picluster_job_attempts_total[5m])) * 60', '{{outcome}}')], 'short', {
          stack: true,
        }),
        ts(
          'Dispatch latency (ready → handed out)',
          [
            t('histogram_quantile(0.5, sum by (le) (rate(picluster_dispatch_latency_seconds_bucket[5m])))', 'p50'),
            t('histogram_quantile(0.95, sum by (le) (rate(picluster_dispatch_latency_seconds_bucket[5m])))', 'p95'),
            t('sum(rate(picluster_dispatch_latency_seconds_sum[5m])) / sum(rate(picluster_dispatch_latency_seconds_count[5m]))', 'mean'),
          ],
          's',
        ),
        ts(
          'Run time by outcome (p50 / p95)',
          [
            t('histogram_quantile(0.5, sum by (le, outcome) (rate(picluster_job_duration_seconds_bucket[5m])))', 'p50 {{outcome}}'),
            t('histogram_quantile(0.95, sum by (le, outcome) (rate(picluster_job_duration_seconds_bucket[5m])))', 'p95 {{outcome}}'),
          ],
          's',
        ),
        ts('Jobs by state', [t('picluster_jobs{state=~"queued|running"}', '{{state}}')]),
        ts('Queue depth by group', [t('picluster_queue_depth', '{{group}}'), t('picluster_queue_delayed_jobs', 'waiting for retry')]),
        ts('Retries and stale results per minute', [
          t('rate(picluster_job_retries_total[5m]) * 60', 'retries'),
          t('sum by (reason) (rate(picluster_stale_results_total[5m])) * 60', 'stale {{reason}}'),
        ]),
        ts(
          'Agent traffic',
          [
            t('rate(picluster_heartbeats_total[5m])', 'heartbeats/s'),
            t('sum by (code) (rate(picluster_agent_protocol_errors_total[5m]))', 'protocol errors {{code}}'),
          ],
          'ops',
        ),
      ],
    ],
  },
  netboot: {
    uid: 'picluster-netboot',
    title: 'picluster / Netboot and power',
    description: 'proxyDHCP/DHCP and TFTP traffic, boot times, boot events, power operations.',
    rows: [
      [
        stat('Nodes booting', 'sum(picluster_nodes{state="booting"})'),
        stat('Boot time p50 (1h)', 'histogram_quantile(0.5, sum by (le) (increase(picluster_boot_duration_seconds_bucket[1h])))', 's'),
        stat('TFTP failures (1h)', 'sum(increase(picluster_tftp_transfers_total{outcome=~"timeout|error|access-violation"}[1h]))', 'short', {
          thresholds: [[1, 'orange']],
        }),
        stat('TFTP sent (1h)', 'sum(increase(picluster_tftp_bytes_total[1h]))', 'bytes'),
        stat('Power failures (1h)', 'sum(increase(picluster_power_operations_total{outcome!="ok"}[1h]))', 'short', { thresholds: [[1, 'red']] }),
        stat('Quarantines (24h)', 'sum(increase(picluster_node_quarantines_total[24h]))', 'short', { thresholds: [[1, 'red']] }),
      ],
      [
        ts(
          'DHCP requests and replies per second',
          [
            t('sum by (type) (rate(picluster_dhcp_requests_total[5m]))', 'in {{type}}'),
            t('sum by (type) (rate(picluster_dhcp_replies_total[5m]))', 'out {{type}}'),
          ],
          'reqps',
        ),
        ts('DHCP ignored, by reason', [t('sum by (reason) (rate(picluster_dhcp_ignored_total[5m]))', '{{reason}}')], 'reqps', { stack: true }),
        ts(
          'TFTP transfers by outcome',
          [t('sum by (outcome) (rate(picluster_tftp_transfers_total[5m]))', '{{outcome}}'), t('rate(picluster_tftp_requests_total[5m])', 'requests')],
          'reqps',
        ),
        ts(
          'TFTP throughput and retransmits',
          [
            t('rate(picluster_tftp_bytes_total[5m])', 'bytes/s'),
            t('rate(picluster_tftp_retransmits_total[5m])', 'retransmits/s'),
            t('sum by (reason) (rate(picluster_tftp_ignored_total[5m]))', 'ignored {{reason}}'),
          ],
          'short',
        ),
        ts(
          'Boot time (first DHCP answer → agent hello)',
          [
            t('histogram_quantile(0.5, sum by (le) (rate(picluster_boot_duration_seconds_bucket[30m])))', 'p50'),
            t('histogram_quantile(0.95, sum by (le) (rate(picluster_boot_duration_seconds_bucket[30m])))', 'p95'),
          ],
          's',
        ),
        ts('Boot events', [t('sum by (kind, outcome) (increase(picluster_boot_events_total[5m]))', '{{kind}} {{outcome}}')], 'short', { stack: true }),
        ts(
          'Power operations',
          [t('sum by (driver, action, outcome) (increase(picluster_power_operations_total[5m]))', '{{driver}} {{action}} {{outcome}}')],
          'short',
          { stack: true },
        ),
        ts(
          'Power operation time p95',
          [t('histogram_quantile(0.95, sum by (le, driver, action) (rate(picluster_power_operation_duration_seconds_bucket[30m])))', '{{driver}} {{action}}')],
          's',
        ),
        ts('Node state changes', [t('sum by (to) (increase(picluster_node_state_changes_total[5m]))', '{{to}}')], 'short', { stack: true, w: 24 }),
      ],
    ],
  },
};

export function renderAll(): Record<string, string> {
  return Object.fromEntries(Object.entries(DASHBOARDS).map(([name, spec]) => [`${name}.json`, JSON.stringify(renderDashboard(spec), null, 2) + '\n']));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = join(import.meta.dirname, 'dashboards');
  for (const [file, text] of Object.entries(renderAll())) {
    writeFileSync(join(dir, file), text);
    process.stdout.write(`wrote ${join(dir, file)}\n`);
  }
}
