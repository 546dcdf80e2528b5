/**
 * `startNetboot(config, deps)`: the netboot servers together — proxyDHCP/DHCP
 * (`dhcp/server.ts`) and TFTP (`tftp/server.ts`) — sharing the deps (logger, clock, node
 * directory, boot-event sink, metrics registry). Used by `picluster netboot` (standalone)
 * and by the master when `netboot.enabled`.
 *
 * Both servers are hand-written over node:dgram: the npm `dhcp` 0.2.20 crashes on a Pi's
 * DISCOVER and has no proxy mode; the npm `tftp` 0.1.2 runs at about half dnsmasq's speed,
 * its windowed mode fails under 0.2 % loss, and an unhandled client ERROR crashes the
 * process.
 */
import type { NetbootConfig } from './config.ts';
import type { NetbootDeps, RunningServer } from './deps.ts';
import { startDhcpServer } from './dhcp/server.ts';
import { startTftpServer } from './tftp/server.ts';

export interface RunningNetboot extends RunningServer {
  readonly dhcp: RunningServer;
  readonly tftp: RunningServer;
}

export async function startNetboot(config: NetbootConfig, deps: NetbootDeps): Promise<RunningNetboot> {
  const tftp = await startTftpServer(config, deps);
  let dhcp: RunningServer;
  try {
    dhcp = await startDhcpServer(config, deps);
  } catch (e) {
    await tftp.close();
    throw e;
  }
  return {
    ports: { ...dhcp.ports, ...tftp.ports },
    dhcp,
    tftp,
    async close() {
      await Promise.allSettled([dhcp.close(), tftp.close()]);
    },
  };
}
