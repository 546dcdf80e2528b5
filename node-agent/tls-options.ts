/**
 * How the agent verifies a `wss://` master: `--tls-ca FILE` (env PICLUSTER_AGENT_TLS_CA) or
 * `--tls-pin sha256:…` (env PICLUSTER_AGENT_TLS_PIN, cmdline `picluster.tlspin=`, which the
 * master writes into each netbooted node's cmdline so it needs no file). The shared pin and CA
 * logic is common/tls-pin.ts; this file only picks the sources and builds the ws/fetch options.
 */
import type { ClientOptions } from 'ws';
import { fetchWithTrust } from '../common/tls-fetch.ts';
import { loadTrust, trustedConnect, type TlsTrust } from '../common/tls-pin.ts';

export const TLS_USAGE = `  --tls-ca FILE         verify a wss:// master against this CA (env PICLUSTER_AGENT_TLS_CA)
  --tls-pin PIN         or by its certificate's SHA-256 (sha256:<hex>; env PICLUSTER_AGENT_TLS_PIN, cmdline picluster.tlspin=)
`;

export const TLS_ARGS = { 'tls-ca': { type: 'string' }, 'tls-pin': { type: 'string' } } as const;

/** Flag over env over cmdline; a problem is pushed (not thrown) so every one is reported at once. */
export function resolveAgentTls(
  flag: (k: string) => string | undefined,
  env: (k: string) => string | undefined,
  cmdline: (k: string) => string | undefined,
  problems: string[],
): TlsTrust | undefined {
  const caFile = flag('tls-ca') ?? env('PICLUSTER_AGENT_TLS_CA');
  const pin = flag('tls-pin') ?? env('PICLUSTER_AGENT_TLS_PIN') ?? cmdline('tlspin');
  try {
    return loadTrust({ caFile, pin }, { ca: '--tls-ca', pin: '--tls-pin' });
  } catch (e) {
    problems.push((e as Error).message);
    return undefined;
  }
}

/** Options for `new WebSocket(url, …)`: the connection is handed over only once trusted. */
export function wsTlsOptions(trust: TlsTrust | undefined): Pick<ClientOptions, 'createConnection'> {
  return trust ? { createConnection: trustedConnect(trust) as unknown as ClientOptions['createConnection'] } : {};
}

export const agentFetch = (trust: TlsTrust | undefined): typeof fetch => fetchWithTrust(trust);
