import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { inventoryDirectory } from '../cli/commands/netboot.ts';
import { buildInventory } from '../inventory/inventory.ts';
import type { BootEvent } from './boot-event.ts';
import { startNetboot } from './netboot.ts';
import { tftpGet } from './tftp/testing/client.ts';
import { testConfig } from './tftp/testing/harness.ts';

describe('startNetboot', () => {
  it('starts DHCP and TFTP on one registry and sink, keyed by the inventory', async () => {
    const root = mkdtempSync(join(tmpdir(), 'picluster-netboot-'));
    writeFileSync(join(root, 'start4.elf'), 'firmware');
    const events: BootEvent[] = [];
    const registry = new Registry();
    const inventory = buildInventory({ nodes: [{ name: 'node6', mac: 'dc:a6:32:01:36:c2', serial: '89eb9bb9', model: 'pi4' }] });
    const netboot = await startNetboot(
      testConfig({ interface: 'lo', serverAddress: '127.0.0.1', tftpRoot: root, clients: 'any', dhcp: { port: 0 }, tftp: { port: 0 } }),
      { log: silentLogger(), clock: systemClock, directory: inventoryDirectory(inventory), registry, sink: (e) => events.push(e) },
    );
    try {
      expect(netboot.ports.dhcp).toBeGreaterThan(0);
      expect(netboot.ports.tftp).toBeGreaterThan(0);
      const r = await tftpGet({ port: netboot.ports.tftp!, file: '89eb9bb9/start4.elf' });
      expect(r.data.toString()).toBe('firmware');
      await expect.poll(() => events.find((e) => e.kind === 'tftp-transfer')).toMatchObject({ outcome: 'complete', node: 'node6', mac: 'dc:a6:32:01:36:c2' });
      const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
      expect(names).toEqual(expect.arrayContaining(['picluster_tftp_requests_total', 'picluster_tftp_transfers_total']));
      expect(names.some((n) => n.startsWith('picluster_dhcp_'))).toBe(true);
    } finally {
      await netboot.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
