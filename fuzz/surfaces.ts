/**
 * Every pure surface of issue 10's fuzzing, as one fast-check arbitrary plus a `check(input)` that
 * throws only on a *violation*: an exception of a kind the surface must never raise (a decoder
 * throwing anything but its typed DecodeError, a validator throwing at all, a decision returning
 * nothing). `fuzz/*.test.ts` run each with modest counts inside `npm test`; `npm run fuzz`
 * (fuzz/run.ts) runs each ≥ 1,000,000 times, plus the live surfaces of fuzz/live.ts.
 */
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../common/config.ts';
import { isPiclusterError } from '../common/errors.ts';
import { parseAgentMessage, parseDispatcherMessage } from '../common/protocol.ts';
import { parseSubmissions } from '../dispatcher/http/routes-jobs.ts';
import { parseShellFrame, parseUiFrame } from '../dispatcher/http/ws-frames.ts';
import { buildInventory } from '../inventory/inventory.ts';
import { decodeDhcp } from '../netboot/dhcp/codec.ts';
import { decideReply } from '../netboot/dhcp/decide.ts';
import { DecodeError as DhcpDecodeError } from '../netboot/dhcp/errors.ts';
import { loadHex, PI_DISCOVER_FIXTURES } from '../netboot/dhcp/fixtures/load.ts';
import { MemoryLeaseStore } from '../netboot/dhcp/leases.ts';
import { context } from '../netboot/dhcp/testing.ts';
import { decodePacket, encodePacket, OP } from '../netboot/tftp/codec.ts';
import { DecodeError as TftpDecodeError } from '../netboot/tftp/errors.ts';
import { decideRequest } from '../netboot/tftp/options.ts';
import { ReadTransfer } from '../netboot/tftp/transfer.ts';

export interface Surface<T> {
  readonly name: string;
  readonly arbitrary: fc.Arbitrary<T>;
  /** Throws only when the surface misbehaves on `input`. */
  check(input: T): void;
}

const define = <T>(s: Surface<T>): Surface<T> => s;

export class Violation extends Error {}

/** Bytes that are mostly a real packet: truncated, bit-flipped, spliced with garbage. */
export function mutatedBytes(seeds: readonly Buffer[], maxLength = 1500): fc.Arbitrary<Buffer> {
  const seed = fc.constantFrom(...seeds);
  const mutated = fc
    .tuple(seed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(), fc.uint8Array({ maxLength: 64 }))
    .map(([s, flips, cut, tail]) => {
      const b = Buffer.from(s);
      for (const [at, v] of flips) if (b.length) b[at % b.length] = v;
      return Buffer.concat([b.subarray(0, cut % (b.length + 1)), Buffer.from(tail)]);
    });
  return fc.oneof(
    mutated,
    mutated,
    fc.uint8Array({ maxLength }).map((u) => Buffer.from(u)),
  );
}

// ── DHCP ─────────────────────────────────────────────────────────────────────────────
const dhcpSeeds = PI_DISCOVER_FIXTURES.map((n) => loadHex(n));
const dhcpContexts = [
  context({ mode: 'proxy' }),
  context({ mode: 'proxy', clients: 'known', enrollment: true }),
  context({ mode: 'full', leases: new MemoryLeaseStore(), dhcp: { full: { rangeStart: '10.213.0.100', rangeEnd: '10.213.0.110' } } }),
];
export const dhcpSurface = define({
  name: 'dhcp-codec+decision',
  arbitrary: mutatedBytes(dhcpSeeds),
  check(bytes) {
    let msg;
    try {
      msg = decodeDhcp(bytes);
    } catch (e) {
      if (e instanceof DhcpDecodeError && e.offset >= 0 && e.offset <= bytes.length) return;
      throw new Violation(`decodeDhcp threw ${String(e)}`, { cause: e });
    }
    for (const ctx of dhcpContexts) {
      const d = decideReply(msg, ctx);
      if (!['reply', 'ignore', 'record'].includes(d.kind)) throw new Violation(`decideReply returned ${JSON.stringify(d.kind)}`);
    }
  },
});

// ── TFTP ─────────────────────────────────────────────────────────────────────────────
const tftpSeeds = [
  encodePacket({ op: 'rrq', filename: 'bootcode.bin', mode: 'octet', options: [] }),
  encodePacket({
    op: 'rrq',
    filename: 'b8e2a1f0/start4.elf',
    mode: 'octet',
    options: [
      { name: 'blksize', value: '1468' },
      { name: 'tsize', value: '0' },
      { name: 'windowsize', value: '8' },
    ],
  }),
  encodePacket({ op: 'ack', block: 7 }),
  encodePacket({ op: 'error', code: 1, message: 'File not found' }),
  Buffer.from([0, OP.wrq, ...Buffer.from('x\0octet\0')]),
];
const tftpLimits = { blksizeMax: 1468, windowsizeMax: 16 };
export const tftpSurface = define({
  name: 'tftp-codec+decision',
  arbitrary: mutatedBytes(tftpSeeds, 600),
  check(bytes) {
    let p;
    try {
      p = decodePacket(bytes);
    } catch (e) {
      if (e instanceof TftpDecodeError) return;
      throw new Violation(`decodePacket threw ${String(e)}`, { cause: e });
    }
    if (p.op === 'rrq' || p.op === 'wrq') {
      const d = decideRequest(p, tftpLimits);
      if (d.kind !== 'accept' && d.kind !== 'refuse') throw new Violation(`decideRequest returned ${JSON.stringify(d)}`);
    }
  },
});

/** A read transfer driven by any sequence of ACKs (any block number), timeouts and errors. */
export const tftpTransferSurface = define({
  name: 'tftp-transfer-events',
  arbitrary: fc.record({
    sizeBytes: fc.integer({ min: 0, max: 200_000 }),
    blksize: fc.integer({ min: 8, max: 1468 }),
    windowsize: fc.integer({ min: 1, max: 16 }),
    oack: fc.boolean(),
    events: fc.array(fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constant(-1), fc.constant(-2)), { maxLength: 60 }),
  }),
  check({ events, ...params }) {
    const t = new ReadTransfer({ ...params, maxRetries: 3 });
    t.start();
    for (const e of events) {
      const step = e === -1 ? t.onTimeout() : e === -2 ? t.onError(0, 'x') : t.onAck(e);
      if (!step || typeof step.kind !== 'string') throw new Violation('a transfer event returned no step');
      if (t.state === 'done') break;
    }
  },
});

// ── agent protocol and browser channels ────────────────────────────────────────────────
const validAgentFrames = [
  {
    type: 'hello',
    protocol: 1,
    token: 't',
    node: { name: 'n1', cpus: 2, memoryMb: 512, arch: 'x64', platform: 'linux', agentVersion: 't', bootId: 'b' },
    running: [],
  },
  { type: 'heartbeat', health: { load1: 0.5, temperatureC: 50 }, running: [1, 2] },
  { type: 'pull', slots: 1 },
  { type: 'output', attemptId: 1, stream: 'stdout', data: 'hi' },
  { type: 'result', result: { attemptId: 1, jobId: 1, outcome: 'succeeded', exitCode: 0, startedAt: 0, durationMs: 1 } },
  { type: 'event', kind: 'kernel', message: 'm' },
  { type: 'shell-output', sessionId: 's1', data: 'x' },
  { type: 'shell-exit', sessionId: 's1', code: 0 },
  { type: 'watch', jobId: 1 },
  { type: 'resync' },
  { type: 'input', data: 'ls\n' },
  { type: 'resize', cols: 80, rows: 24 },
];

/** JSON-ish values: anything JSON can carry, near-miss frames (a valid frame with one field replaced), and raw text. */
export function frameText(): fc.Arbitrary<string> {
  const value = fc.jsonValue({ maxDepth: 4 });
  const nearMiss = fc.tuple(fc.constantFrom(...validAgentFrames), fc.string({ maxLength: 12 }), value, fc.boolean()).map(([frame, key, v, drop]) => {
    const f: Record<string, unknown> = structuredClone(frame);
    const keys = Object.keys(f);
    const k = key && !drop ? key : keys[key.length % keys.length]!;
    if (drop && k !== 'type') delete f[k];
    else f[k] = v;
    return JSON.stringify(f);
  });
  return fc.oneof(
    { weight: 3, arbitrary: nearMiss },
    { weight: 2, arbitrary: value.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constantFrom(...validAgentFrames).map((f) => JSON.stringify(f)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u).toString('latin1')) },
  );
}

const parserSurface = (name: string, parse: (raw: string) => { ok: boolean }) =>
  define({
    name,
    arbitrary: frameText(),
    check(raw: string) {
      const r = parse(raw);
      if (typeof r.ok !== 'boolean') throw new Violation('parser returned no verdict');
    },
  });

export const agentProtocolSurface = parserSurface('agent-protocol', parseAgentMessage);
export const dispatcherProtocolSurface = parserSurface('dispatcher-protocol', parseDispatcherMessage);
export const uiFrameSurface = parserSurface('ui-frames', parseUiFrame);
export const shellFrameSurface = parserSurface('shell-frames', parseShellFrame);

// ── REST bodies ──────────────────────────────────────────────────────────────────────
const validSubmission = { argv: ['echo', 'hi'], priority: 1, group: 'g', retries: 1, timeoutMs: 1000, requirements: { cpus: 1, labels: { a: 'b' } } };
export const restBodySurface = define({
  name: 'rest-submission-bodies',
  arbitrary: fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.tuple(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 })).map(([k, v]) => ({ ...validSubmission, [k || 'argv']: v })),
    fc.array(
      fc.tuple(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => ({ ...validSubmission, [k || 'priority']: v })),
      {
        maxLength: 5,
      },
    ),
  ),
  check(body) {
    try {
      parseSubmissions(body);
    } catch (e) {
      if (isPiclusterError(e) && e.code === 'VALIDATION_FAILED') return;
      throw new Violation(`parseSubmissions threw ${String(e)}`, { cause: e });
    }
  },
});

// ── config and inventory loaders ───────────────────────────────────────────────────────
const yamlText = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 300 }),
  fc
    .tuple(
      fc.constantFrom('http', 'scheduler', 'limits', 'netboot', 'store', 'auth', 'recovery', 'power'),
      fc.string({ maxLength: 16 }),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([section, key, v]) => `${section}:\n  ${JSON.stringify(key || 'port')}: ${JSON.stringify(v)}\n`),
);
export const configSurface = define({
  name: 'config-loader',
  arbitrary: fc.tuple(
    yamlText,
    fc.dictionary(fc.constantFrom('PICLUSTER_HTTP_PORT', 'PICLUSTER_LIMITS__MAX_BOOT_EVENTS', 'PICLUSTER_X'), fc.string({ maxLength: 20 })),
  ),
  check([text, env]) {
    try {
      loadConfig({ text, env });
    } catch (e) {
      if (isPiclusterError(e)) return;
      throw new Violation(`loadConfig threw ${String(e)}`, { cause: e });
    }
  },
});

const validNode = { name: 'pi-1', mac: 'b8:27:eb:00:00:01', model: 'pi4', slots: 4, labels: { rack: 'a' } };
export const inventorySurface = define({
  name: 'inventory-loader',
  arbitrary: fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc
      .array(
        fc.tuple(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => ({ ...validNode, [k || 'mac']: v })),
        { maxLength: 4 },
      )
      .map((nodes) => ({ nodes })),
    fc.string({ maxLength: 300 }).map((t) => {
      try {
        return parseYaml(t, { logLevel: 'silent' }) as unknown;
      } catch {
        return t;
      }
    }),
  ),
  check(raw) {
    try {
      buildInventory(raw, 'fuzz');
    } catch (e) {
      if (isPiclusterError(e)) return;
      throw new Violation(`buildInventory threw ${String(e)}`, { cause: e });
    }
  },
});

export const PURE_SURFACES: readonly Surface<never>[] = [
  dhcpSurface,
  tftpSurface,
  tftpTransferSurface,
  agentProtocolSurface,
  dispatcherProtocolSurface,
  uiFrameSurface,
  shellFrameSurface,
  restBodySurface,
  configSurface,
  inventorySurface,
] as unknown as Surface<never>[];
