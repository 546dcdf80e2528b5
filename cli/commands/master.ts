/** `picluster master [--config picluster.yaml] [--local-agents n]`. */
import { loadConfig } from '../../common/config.ts';
import { createLogger } from '../../common/logger.ts';
import { startMaster } from '../../dispatcher/master.ts';
import { parseFlags } from '../args.ts';

export const USAGE = `usage: picluster master [--config FILE] [--local-agents N] [--port N] [--data-dir DIR] [--log-format auto|json|pretty]

Runs the dispatcher (REST API, web UI, agent gateway, /metrics) and, when netboot.enabled,
the netboot servers. Config: FILE (or $PICLUSTER_CONFIG, or ./picluster.yaml if present),
then PICLUSTER_* environment overrides. Logs: one pretty line per event on a terminal, JSON
otherwise (journald); --log-format (or log.format, PICLUSTER_LOG_FORMAT) chooses.
`;

export async function run(argv: string[]): Promise<number | undefined> {
  const { values } = parseFlags(argv, {
    config: { type: 'string', short: 'c' },
    'local-agents': { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
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
    overrides: {
      ...(values.port !== undefined ? { 'http.port': Number(values.port) } : {}),
      ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
      ...(values['log-format'] !== undefined ? { 'log.format': values['log-format'] } : {}),
    },
  });
  const log = createLogger(config.log);
  const localAgents = values['local-agents'] === undefined ? 0 : Number(values['local-agents']);
  if (!Number.isInteger(localAgents) || localAgents < 0 || localAgents > 64) {
    process.stderr.write('picluster master: --local-agents takes a whole number from 0 to 64\n');
    return 2;
  }
  let createdToken: { token: string; path: string } | undefined;
  const master = await startMaster(config, { log, localAgents, processGuard: true, onAdminTokenCreated: (token, path) => (createdToken = { token, path }) });
  const lines = [
    '',
    `picluster master is up: ${master.url}/  (API ${master.url}/api, docs ${master.url}/docs, metrics ${master.url}/metrics)`,
    createdToken
      ? `admin token (shown once; also saved to ${createdToken.path}): ${createdToken.token}`
      : `admin token: ${master.adminTokenPath ? `in ${master.adminTokenPath}` : 'from your configuration (auth.adminToken)'}`,
    localAgents ? `local agents: ${localAgents} (local-1..local-${localAgents})` : 'local agents: none (start agents with `picluster agent`)',
    config.netboot.enabled ? 'netboot: enabled' : 'netboot: off (set netboot.enabled in picluster.yaml)',
    `try: npx picluster submit -- echo hello`,
    '',
  ];
  process.stderr.write(lines.join('\n') + '\n');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log.info('master stopping');
  await master.close();
  return 0;
}
