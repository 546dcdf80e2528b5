/**
 * Agent options: flags win over env, env wins over the kernel cmdline (`picluster.*=` keys that
 * the netboot server writes into each node's cmdline.txt). Everything here is pure except
 * `readKernelCmdline`, so the precedence rules are unit-tested without a Pi.
 */
import { parseArgs } from 'node:util';
import type { TlsTrust } from '../common/tls-pin.ts';
import { bindDashValues } from '../common/argv.ts';
import { AgentUsageError } from './errors.ts';
import { resolveAgentTls, TLS_ARGS, TLS_USAGE } from './tls-options.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AgentCliOptions {
  readonly dispatcher: string;
  readonly name: string;
  readonly token: string;
  /** Local cap on concurrent jobs; undefined = the dispatcher's value (which defaults to the CPU count). */
  readonly slots: number | undefined;
  /** Parent of the per-attempt scratch dirs; undefined = a fresh temp dir removed on stop. */
  readonly workDir: string | undefined;
  readonly watchdog: string | undefined;
  /** Kernel log device read for the boot report (the image passes /dev/kmsg); undefined = no report. */
  readonly kmsg: string | undefined;
  readonly logLevel: LogLevel;
  readonly rebootCommand: readonly string[];
  readonly shutdownCommand: readonly string[];
  readonly imageVersion: string | undefined;
  /** python3 for python jobs; undefined = the first python3 on PATH. */
  readonly python: string | undefined;
  /** `auto`: a cgroup v2 per job where available; `off`: process groups only. */
  readonly cgroups: 'auto' | 'off';
  /** Bound in bytes of the node's cache of input files (RAM on a netbooted node). */
  readonly fileCacheBytes: number;
  /** How a wss:// master is verified (CA file or pin); undefined = the system CAs. */
  readonly tls: TlsTrust | undefined;
  /** Where each of dispatcher/name/token came from (for the start-up log; never the values of secrets). */
  readonly sources: Readonly<Record<'dispatcher' | 'name' | 'token', 'flag' | 'env' | 'cmdline' | 'default'>>;
}

export const USAGE = `usage: picluster agent [options]

  --dispatcher URL      ws://host:port/agent (env PICLUSTER_AGENT_DISPATCHER, cmdline picluster.dispatcher=)
  --name NAME           node name (env PICLUSTER_AGENT_NAME, cmdline picluster.name=; default: hostname)
  --token TOKEN         node token (env PICLUSTER_AGENT_TOKEN, cmdline picluster.token=)
  --slots N             local cap on concurrent jobs (env PICLUSTER_AGENT_SLOTS; default: the dispatcher's value)
  --work-dir DIR        parent of per-job scratch dirs (env PICLUSTER_AGENT_WORK_DIR; default: a temp dir)
  --watchdog PATH       pet this watchdog device (e.g. /dev/watchdog)
  --kmsg PATH           send this boot's kernel log and /init milestones from PATH (/dev/kmsg) once
  --log-level LEVEL     fatal|error|warn|info|debug|trace|silent (default: info)
  --reboot-command CMD  command run for a 'reboot' node command (default: reboot)
  --shutdown-command CMD  command run for a 'shutdown' node command (default: poweroff)
  --image-version V     image version to report (env PICLUSTER_IMAGE_VERSION, file /etc/picluster/image-version)
  --python PATH         python3 for python jobs (env PICLUSTER_AGENT_PYTHON; default: python3 on PATH)
  --cgroups auto|off    a cgroup v2 per job where available (env PICLUSTER_AGENT_CGROUPS; default: auto)
  --file-cache-bytes N  bound of the input-file cache by hash (env PICLUSTER_AGENT_FILE_CACHE_BYTES; default 64 MiB, 0 = no cache)
${TLS_USAGE}  -h, --help            show this help
`;

/**
 * `picluster.dispatcher=ws://… picluster.name="node 6"` → `{ dispatcher: 'ws://…', name: 'node 6' }`.
 * Only `picluster.` keys are returned, prefix stripped; double quotes group a value with spaces
 * (the kernel's own cmdline quoting). A key without `=` maps to `''`. Later keys win.
 */
export function parseKernelCmdline(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(?:[^\s"]+|"[^"]*"?)+/g;
  for (const m of text.matchAll(re)) {
    const token = m[0];
    const eq = token.indexOf('=');
    const rawKey = eq === -1 ? token : token.slice(0, eq);
    const key = rawKey.replace(/"/g, '');
    if (!key.startsWith('picluster.') || key.length === 'picluster.'.length) continue;
    const value = eq === -1 ? '' : token.slice(eq + 1).replace(/"/g, '');
    out[key.slice('picluster.'.length)] = value;
  }
  return out;
}

export interface OptionSources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Contents of /proc/cmdline, or undefined when not on Linux / unreadable. */
  readonly kernelCmdline: string | undefined;
  /** Contents of /etc/picluster/image-version, when present. */
  readonly imageVersionFile: string | undefined;
  readonly hostname: string;
}

export const DEFAULT_FILE_CACHE_BYTES = 64 * 1024 * 1024;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Splits a command line on whitespace (no shell: quoting is not interpreted). */
export function splitCommand(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

/**
 * Resolves the agent's options; returns `'help'` for `--help`. Every problem is reported at once
 * in one `AgentUsageError` (the CLI prints it and exits 2).
 */
export function resolveAgentOptions(src: OptionSources): AgentCliOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: bindDashValues(src.argv),
      strict: true,
      allowPositionals: false,
      options: {
        dispatcher: { type: 'string' },
        name: { type: 'string' },
        token: { type: 'string' },
        slots: { type: 'string' },
        'work-dir': { type: 'string' },
        watchdog: { type: 'string' },
        kmsg: { type: 'string' },
        'log-level': { type: 'string' },
        'reboot-command': { type: 'string' },
        'shutdown-command': { type: 'string' },
        'image-version': { type: 'string' },
        python: { type: 'string' },
        cgroups: { type: 'string' },
        'file-cache-bytes': { type: 'string' },
        ...TLS_ARGS,
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new AgentUsageError((e as Error).message, { cause: e });
  }
  if (values.help) return 'help';
  const str = (k: string): string | undefined => {
    const v = values[k];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const env = (k: string): string | undefined => {
    const v = src.env[k];
    return v !== undefined && v !== '' ? v : undefined;
  };
  const cmdline = src.kernelCmdline === undefined ? {} : parseKernelCmdline(src.kernelCmdline);
  const fromCmdline = (k: string): string | undefined => (cmdline[k] ? cmdline[k] : undefined);

  const problems: string[] = [];
  type Source = AgentCliOptions['sources']['name'];
  const pick = (flag: string, envName: string, cmdKey: string): [string | undefined, Source] => {
    const f = str(flag);
    if (f !== undefined) return [f, 'flag'];
    const e = env(envName);
    if (e !== undefined) return [e, 'env'];
    const c = fromCmdline(cmdKey);
    if (c !== undefined) return [c, 'cmdline'];
    return [undefined, 'default'];
  };

  const [dispatcher, dispatcherSrc] = pick('dispatcher', 'PICLUSTER_AGENT_DISPATCHER', 'dispatcher');
  if (dispatcher === undefined) {
    problems.push('no dispatcher URL: pass --dispatcher ws://host:port/agent, set PICLUSTER_AGENT_DISPATCHER, or boot with picluster.dispatcher=');
  } else if (!/^wss?:\/\/[^/\s]+/.test(dispatcher)) {
    problems.push(`dispatcher URL must start with ws:// or wss:// (got ${JSON.stringify(dispatcher)})`);
  }

  let [name, nameSrc] = pick('name', 'PICLUSTER_AGENT_NAME', 'name');
  if (name === undefined && NAME_RE.test(src.hostname)) [name, nameSrc] = [src.hostname, 'default'];
  if (name === undefined) problems.push('no node name: pass --name, set PICLUSTER_AGENT_NAME, or boot with picluster.name=');
  else if (!NAME_RE.test(name)) problems.push(`node name ${JSON.stringify(name)} is invalid: 1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit`);

  const [token, tokenSrc] = pick('token', 'PICLUSTER_AGENT_TOKEN', 'token');
  if (token === undefined) problems.push('no node token: pass --token, set PICLUSTER_AGENT_TOKEN, or boot with picluster.token=');
  else if (token.length > 512) problems.push('node token is longer than 512 characters');

  let slots: number | undefined;
  const slotsText = str('slots') ?? env('PICLUSTER_AGENT_SLOTS');
  if (slotsText !== undefined) {
    slots = /^\d+$/.test(slotsText) ? Number(slotsText) : NaN;
    if (!Number.isSafeInteger(slots) || slots < 1 || slots > 4096) problems.push(`slots must be an integer 1..4096 (got ${JSON.stringify(slotsText)})`);
  }

  const logLevel = (str('log-level') ?? env('PICLUSTER_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`log level must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(logLevel)})`);

  const rebootCommand = splitCommand(str('reboot-command') ?? 'reboot');
  const shutdownCommand = splitCommand(str('shutdown-command') ?? 'poweroff');
  if (rebootCommand.length === 0) problems.push('--reboot-command is empty');
  if (shutdownCommand.length === 0) problems.push('--shutdown-command is empty');

  const cgroups = str('cgroups') ?? env('PICLUSTER_AGENT_CGROUPS') ?? 'auto';
  if (cgroups !== 'auto' && cgroups !== 'off') problems.push(`--cgroups must be auto or off (got ${JSON.stringify(cgroups)})`);

  const cacheText = str('file-cache-bytes') ?? env('PICLUSTER_AGENT_FILE_CACHE_BYTES');
  const fileCacheBytes = cacheText === undefined ? DEFAULT_FILE_CACHE_BYTES : /^\d+$/.test(cacheText) ? Number(cacheText) : NaN;
  if (!Number.isSafeInteger(fileCacheBytes)) problems.push(`--file-cache-bytes must be a number of bytes (got ${JSON.stringify(cacheText)})`);

  const tls = resolveAgentTls(str, env, fromCmdline, problems);
  if (tls && dispatcher?.startsWith('ws://')) problems.push('--tls-ca/--tls-pin (or picluster.tlspin=) need a wss:// dispatcher URL');

  if (problems.length > 0) throw new AgentUsageError(problems.join('\n'), { details: { problems } });
  const imageVersion = str('image-version') ?? env('PICLUSTER_IMAGE_VERSION') ?? (src.imageVersionFile?.trim() || undefined);
  return {
    dispatcher: dispatcher!,
    name: name!,
    token: token!,
    slots,
    workDir: str('work-dir') ?? env('PICLUSTER_AGENT_WORK_DIR'),
    watchdog: str('watchdog'),
    kmsg: str('kmsg'),
    logLevel,
    rebootCommand,
    shutdownCommand,
    imageVersion: imageVersion?.slice(0, 64),
    python: str('python') ?? env('PICLUSTER_AGENT_PYTHON'),
    cgroups: cgroups as 'auto' | 'off',
    fileCacheBytes,
    tls,
    sources: { dispatcher: dispatcherSrc, name: nameSrc, token: tokenSrc },
  };
}
