/**
 * `picluster netboot [--config picluster.yaml]`: the netboot servers standalone (e.g. on
 * another L2 segment than the master): proxyDHCP/DHCP + TFTP from `netboot:` in the
 * config, known nodes from the inventory file (`inventory.path`, optional). Boot events
 * are logged; per-node generated files need the master (standalone serves shared files,
 * and per-node directories that exist on disk under the TFTP root).
 *
 * The servers are hand-written (npm `tftp` 0.1.2 runs at about half dnsmasq's speed, its
 * windowed mode fails under 0.2 % loss, and an unhandled client ERROR crashes the process).
 */
import { Registry } from 'prom-client';
import { loadConfig } from '../../common/config.ts';
import { systemClock } from '../../common/clock.ts';
import { createLogger } from '../../common/logger.ts';
import { loadInventory, type Inventory, type InventoryNode } from '../../inventory/inventory.ts';
import { startNetboot } from '../../netboot/netboot.ts';
import type { NetbootNode, NodeDirectory } from '../../netboot/node-directory.ts';
import { parseFlags } from '../args.ts';

export const USAGE = `usage: picluster netboot [--config FILE] [--log-format auto|json|pretty]

Runs proxyDHCP (or full DHCP) and TFTP for netbooting Raspberry Pis and PXE machines,
from the \`netboot\` section of FILE (or $PICLUSTER_CONFIG, or ./picluster.yaml). Minimal:

  netboot: { interface: eth0, mode: proxy, tftpRoot: /srv/pi, clients: any }

Known nodes come from the inventory file (inventory.path) when it exists.
`;

function toNetbootNode(n: InventoryNode): NetbootNode {
  return { name: n.name, mac: n.mac, ...(n.serial ? { serial: n.serial } : {}), model: n.model, ...(n.ipv4 ? { ipv4: n.ipv4 } : {}), approved: true };
}

/** Standalone directory: inventory nodes are known and approved; nothing is generated. */
export function inventoryDirectory(inventory: Inventory): NodeDirectory {
  return {
    findByMac: (mac) => {
      const n = inventory.byMac(mac);
      return n ? toNetbootNode(n) : undefined;
    },
    findBySerial: (serial) => {
      const n = inventory.bySerial(serial);
      return n ? toNetbootNode(n) : undefined;
    },
  };
}

export async function run(argv: string[]): Promise<number | undefined> {
  const { values } = parseFlags(argv, {
    config: { type: 'string', short: 'c' },
    'log-format': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const file = values.config ?? process.env.PICLUSTER_CONFIG ?? 'picluster.yaml';
  const config = loadConfig({
    file,
    required: values.config !== undefined || process.env.PICLUSTER_CONFIG !== undefined,
    env: process.env,
    overrides: values['log-format'] !== undefined ? { 'log.format': values['log-format'] } : {},
  });
  const log = createLogger(config.log);
  const inventory = loadInventory(config.inventory.path);
  const registry = new Registry();
  const netboot = await startNetboot(config.netboot, {
    log,
    clock: systemClock,
    directory: inventoryDirectory(inventory),
    registry,
    sink: (event) => log.info({ event }, 'boot event'),
  });
  process.stderr.write(
    `picluster netboot: ${config.netboot.mode} DHCP on :${netboot.ports.dhcp}, TFTP on :${netboot.ports.tftp} serving ${config.netboot.tftpRoot}` +
      ` (${config.netboot.clients === 'any' ? 'any PXE client' : `${inventory.nodes.length} known nodes`})\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('netboot stopping');
  await netboot.close();
  return 0;
}
