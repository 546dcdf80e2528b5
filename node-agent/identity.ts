/**
 * Who this node is, sent in `hello`: name, boot-interface MAC, Pi serial/model (when on a Pi),
 * CPUs, memory, arch, versions and boot id. Parsers are pure and tested on fixture text; the
 * collector reads through an injectable `FileSource` and `os`-like object.
 */
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import type { NodeIdentity } from '../common/protocol.ts';
import { normalizeMac, normalizeSerial } from '../common/mac.ts';
import type { FileSource } from './sources.ts';
import { AGENT_VERSION } from './version.ts';

/** The interface of the default route (lowest metric) in `/proc/net/route`, if any. */
export function parseDefaultRouteInterface(text: string): string | undefined {
  let best: { iface: string; metric: number } | undefined;
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 8) continue;
    const [iface, dest, , flags, , , metric, mask] = cols;
    if (dest !== '00000000' || mask !== '00000000') continue;
    if ((parseInt(flags!, 16) & 0x1) === 0) continue; // RTF_UP
    const m = Number(metric);
    if (!best || m < best.metric) best = { iface: iface!, metric: m };
  }
  return best?.iface;
}

export interface CpuInfo {
  /** 8 lowercase hex digits; undefined when absent or all zeros (non-Pi ARM boards). */
  readonly serial?: string;
  readonly model?: string;
  readonly revision?: string;
}

/** `Serial`, `Model` and `Revision` lines of `/proc/cpuinfo` (Raspberry Pi kernels add them). */
export function parseCpuInfo(text: string): CpuInfo {
  const field = (name: string): string | undefined => {
    const m = new RegExp(`^${name}\\s*:\\s*(.+?)\\s*$`, 'm').exec(text); // case-sensitive: x86 has "model\t: 142"
    return m?.[1];
  };
  const serialText = field('Serial');
  const serial = serialText === undefined ? undefined : cleanSerial(serialText);
  const model = field('Model');
  const revision = field('Revision');
  return { ...(serial ? { serial } : {}), ...(model ? { model } : {}), ...(revision ? { revision } : {}) };
}

function cleanSerial(text: string): string | undefined {
  const s = normalizeSerial(text.replace(/\0/g, ''));
  return s && s !== '00000000' ? s : undefined;
}

/** Device-tree strings end with NUL. */
const dtString = (text: string | undefined): string | undefined => {
  const s = text?.replace(/\0+$/g, '').trim();
  return s ? s : undefined;
};

export interface OsLike {
  networkInterfaces(): NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  hostname(): string;
  availableParallelism(): number;
  totalmem(): number;
}

export interface IdentityInput {
  readonly name: string;
  readonly imageVersion?: string | undefined;
  readonly files: FileSource;
  readonly os?: OsLike;
  readonly arch?: string;
  readonly platform?: string;
  readonly agentVersion?: string;
  /** Overrides /proc/sys/kernel/random/boot_id (env PICLUSTER_AGENT_BOOT_ID). */
  readonly bootId?: string | undefined;
  /** Overrides the interface's MAC (env PICLUSTER_AGENT_MAC): agents that share a host (process agents, tests) would all report its MAC. */
  readonly mac?: string | undefined;
}

/** Stands in for the boot id where /proc has none: unique per agent process. */
const processBootId = `process-${randomUUID()}`;

/** MAC and IPv4 of `iface`, or of the first non-internal interface with a real MAC. */
export function pickInterface(ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>, preferred: string | undefined): { mac?: string; ip?: string } {
  const usable = (list: os.NetworkInterfaceInfo[] | undefined) => (list ?? []).filter((a) => !a.internal && a.mac !== '00:00:00:00:00:00');
  const names = preferred && ifaces[preferred] ? [preferred] : Object.keys(ifaces).sort();
  for (const n of names) {
    const addrs = usable(ifaces[n]);
    if (addrs.length === 0) continue;
    const v4 = addrs.find((a) => a.family === 'IPv4');
    const mac = normalizeMac(addrs[0]!.mac);
    return { ...(mac ? { mac } : {}), ...((v4 ?? addrs[0]) ? { ip: (v4 ?? addrs[0])!.address } : {}) };
  }
  return {};
}

export async function collectIdentity(input: IdentityInput): Promise<NodeIdentity> {
  const { files } = input;
  const sys: OsLike = input.os ?? os;
  const [route, cpuinfo, dtModel, dtSerial, bootIdText] = await Promise.all([
    files.readFile('/proc/net/route'),
    files.readFile('/proc/cpuinfo'),
    files.readFile('/proc/device-tree/model'),
    files.readFile('/sys/firmware/devicetree/base/serial-number'),
    files.readFile('/proc/sys/kernel/random/boot_id'),
  ]);
  const cpu = cpuinfo === undefined ? {} : parseCpuInfo(cpuinfo);
  const serial = cpu.serial ?? (dtSerial === undefined ? undefined : cleanSerial(dtSerial));
  const model = dtString(dtModel) ?? cpu.model;
  const net = pickInterface(sys.networkInterfaces(), route === undefined ? undefined : parseDefaultRouteInterface(route));
  const hostname = sys.hostname().slice(0, 253);
  // An explicit boot id wins: agents that share a kernel (containers, VMs driven by tests)
  // would otherwise all report the host's boot id.
  const bootId = input.bootId || bootIdText?.trim() || processBootId;
  const mac = (input.mac && normalizeMac(input.mac)) || net.mac;
  return {
    name: input.name,
    ...(mac ? { mac } : {}),
    ...(serial ? { serial } : {}),
    ...(model ? { model: model.slice(0, 64) } : {}),
    ...(hostname ? { hostname } : {}),
    ...(net.ip ? { ip: net.ip.slice(0, 64) } : {}),
    cpus: Math.max(1, sys.availableParallelism()),
    memoryMb: Math.max(1, Math.floor(sys.totalmem() / (1024 * 1024))),
    arch: (input.arch ?? process.arch).slice(0, 16),
    platform: (input.platform ?? process.platform).slice(0, 16),
    agentVersion: input.agentVersion ?? AGENT_VERSION,
    ...(input.imageVersion ? { imageVersion: input.imageVersion.slice(0, 64) } : {}),
    bootId: bootId.slice(0, 64),
  };
}
