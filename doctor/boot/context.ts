/**
 * What the boot doctor's catalogue reads: one node's boot events cut down to its latest boot
 * attempt, its node events (power, reboot, kernel log lines from the agent) and the agent's
 * last refused hello, with the small derived facts every entry needs. Pure: no clock, no I/O.
 */
import type { BootEvent } from '../../netboot/boot-event.ts';

export interface BootDoctorNode {
  readonly name: string;
  /** Inventory model: pi3b | pi3b+ | pi4 | pi5 | x86-64 | arm64 | other. */
  readonly model?: string;
  readonly serial?: string;
  readonly mac?: string;
  readonly state?: string;
  readonly connected?: boolean;
}

export interface BootDoctorNodeEvent {
  readonly at: number;
  /** `power`, `reboot`, `kernel`, `state`, `hello`, … */
  readonly kind: string;
  readonly message: string;
}

export interface BootDoctorInput {
  readonly node: BootDoctorNode;
  /** Boot events of this node, any order (the API returns newest first). */
  readonly bootEvents: readonly BootEvent[];
  readonly nodeEvents?: readonly BootDoctorNodeEvent[];
  /** The agent's last refused hello (BAD_TOKEN, NOT_APPROVED, NODE_REMOVED, PROTOCOL_VERSION). */
  readonly refusal?: { readonly at: number; readonly code: string; readonly message: string };
  readonly now: number;
  /** How long after the last boot file without an agent hello counts as "no agent" (default 120 s). */
  readonly agentTimeoutMs?: number;
}

export type PiFamily = 'pi3' | 'pi4' | 'pi5' | 'pc' | 'unknown';

export interface BootContext {
  readonly input: BootDoctorInput;
  readonly node: BootDoctorNode;
  readonly family: PiFamily;
  /** Every boot event, oldest first. */
  readonly all: readonly BootEvent[];
  /** The latest boot attempt, oldest first: from the DHCP packet that follows any later step. */
  readonly attempt: readonly BootEvent[];
  readonly dhcpAnswered: readonly BootEvent[];
  readonly dhcpIgnored: readonly BootEvent[];
  readonly tftp: readonly BootEvent[];
  readonly http: readonly BootEvent[];
  readonly hello: BootEvent | undefined;
  /** Kernel log lines (node events of kind `kernel`), oldest first. */
  readonly kernel: readonly string[];
  /** When the node was last powered on or cycled (a `power` node event that did so). */
  readonly poweredOnAt: number | undefined;
  /** When the node was last asked to reboot (a `reboot` node event). */
  readonly rebootAt: number | undefined;
  readonly agentTimeoutMs: number;
}

const isDhcp = (e: BootEvent): boolean => e.kind === 'dhcp-discover' || e.kind === 'dhcp-ignored' || e.kind === 'dhcp-ack';

/** The file a TFTP/HTTP event names, as requested. */
export function fileOf(e: BootEvent): string {
  const f = e.detail?.file ?? e.detail?.path;
  return typeof f === 'string' ? f : '';
}

/** `1234abcd/start4.elf` → `start4.elf`; `dc-a6-32-01-36-c2/config.txt` → `config.txt`. */
export function baseName(file: string): string {
  const parts = file.replace(/^\/+/, '').split('/');
  return parts.length > 1 && isPrefixDir(parts[0]!) ? parts.slice(1).join('/') : parts.join('/');
}

/** The serial (8 hex) or MAC (`dc-a6-32-…`) directory a Pi put in front of a file, if any. */
export function prefixOf(file: string): string | undefined {
  const first = file.replace(/^\/+/, '').split('/')[0] ?? '';
  return file.includes('/') && isPrefixDir(first) ? first : undefined;
}

function isPrefixDir(s: string): boolean {
  return /^[0-9a-f]{8}$/i.test(s) || /^([0-9a-f]{2}-){5}[0-9a-f]{2}$/i.test(s);
}

export function num(e: BootEvent, key: string): number | undefined {
  const v = e.detail?.[key];
  return typeof v === 'number' ? v : undefined;
}

export function familyOf(model: string | undefined, events: readonly BootEvent[]): PiFamily {
  const m = model ?? String(events.find((e) => typeof e.detail?.pi === 'string')?.detail?.pi ?? '');
  if (/^pi3|3b/i.test(m)) return 'pi3';
  if (/^pi4|4b|cm4/i.test(m)) return 'pi4';
  if (/^pi5|5b|cm5/i.test(m)) return 'pi5';
  if (/x86|arm64|pc/i.test(m)) return 'pc';
  return 'unknown';
}

/** Splits the timeline into boot attempts: a DHCP packet after any TFTP/HTTP/agent step starts a new one. */
export function latestAttempt(events: readonly BootEvent[]): BootEvent[] {
  let start = 0;
  let sawLater = false;
  events.forEach((e, i) => {
    if (isDhcp(e)) {
      if (sawLater) {
        start = i;
        sawLater = false;
      }
    } else sawLater = true;
  });
  return events.slice(start);
}

export function buildContext(input: BootDoctorInput): BootContext {
  const all = [...input.bootEvents].sort((a, b) => a.at - b.at);
  const attempt = latestAttempt(all);
  const nodeEvents = [...(input.nodeEvents ?? [])].sort((a, b) => a.at - b.at);
  const powered = nodeEvents.filter((e) => e.kind === 'power' && /^(on|cycle)\b/.test(e.message) && !/failed/.test(e.message));
  const reboots = nodeEvents.filter((e) => e.kind === 'reboot');
  return {
    input,
    node: input.node,
    family: familyOf(input.node.model, all),
    all,
    attempt,
    dhcpAnswered: attempt.filter((e) => e.kind === 'dhcp-discover' || e.kind === 'dhcp-ack'),
    dhcpIgnored: attempt.filter((e) => e.kind === 'dhcp-ignored'),
    tftp: attempt.filter((e) => e.kind === 'tftp-transfer'),
    http: attempt.filter((e) => e.kind === 'http-fetch'),
    hello: attempt.filter((e) => e.kind === 'agent-hello').at(-1),
    kernel: nodeEvents.filter((e) => e.kind === 'kernel').map((e) => e.message),
    poweredOnAt: powered.at(-1)?.at,
    rebootAt: reboots.at(-1)?.at,
    agentTimeoutMs: input.agentTimeoutMs ?? 120_000,
  };
}

/** TFTP events for a file (by base name, any prefix), optionally with one outcome. */
export function transfers(ctx: BootContext, test: RegExp, outcome?: string): BootEvent[] {
  return ctx.tftp.filter((e) => test.test(baseName(fileOf(e))) && (outcome === undefined || e.outcome === outcome));
}

export function loaded(ctx: BootContext, test: RegExp): boolean {
  return transfers(ctx, test, 'complete').length > 0 || ctx.http.some((e) => test.test(baseName(fileOf(e))) && e.outcome !== 'not-found');
}

export const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
