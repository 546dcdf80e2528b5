/**
 * The one-line summary of the effective configuration logged at info on start (the whole
 * redacted config goes to debug). Pure: config in, a few flat fields out; no secrets, only
 * whether they are set.
 */
import type { Config } from './config.ts';

export interface ConfigSummary {
  readonly http: string;
  readonly dataDir: string;
  readonly inventory: string;
  readonly strategy: string;
  readonly netboot: string;
  readonly auth: string;
  readonly log: string;
}

export function configSummary(config: Config): ConfigSummary {
  const n = config.netboot;
  const auth = [
    config.auth.adminToken ? 'admin token from config' : 'admin token in data dir',
    ...(config.auth.viewerToken ? ['viewer token'] : []),
    config.auth.metricsToken ? 'metrics guarded' : 'metrics open',
  ];
  return {
    http: `${config.http.host}:${config.http.port}${config.http.tls ? ` (https; /boot plain on :${config.http.bootPort})` : ''}`,
    dataDir: config.dataDir,
    inventory: config.inventory.path,
    strategy: config.scheduler.strategy,
    netboot: n.enabled
      ? `${n.mode} DHCP on ${n.interface}${n.serverAddress ? ` (${n.serverAddress})` : ''}, clients ${n.clients}${n.enrollment ? ' + enrollment' : ''}, tftp ${n.tftpRoot}`
      : 'off',
    auth: auth.join(', '),
    log: `${config.log.level}/${config.log.format}`,
  };
}
