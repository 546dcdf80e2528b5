/**
 * The agent against a wss dispatcher on loopback, with the certificates `picluster tls init`
 * makes (common/tls-cert.ts): a matching pin or the CA file connects and says hello; a wrong
 * pin or a foreign CA is refused before any frame is sent, logged with a clear error, and the
 * agent backs off. Also where --tls-ca/--tls-pin come from (flag over env over cmdline).
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createServerCert } from '../common/tls-cert.ts';
import { loadTrust, pinOf, type TlsTrust } from '../common/tls-pin.ts';
import { Agent, type AgentEvents, type ReconnectTimer } from './agent.ts';
import { FakeDispatcher } from './fake-dispatcher.test-helper.ts';
import { Runner } from './runner.ts';
import { agentFetch, resolveAgentTls, wsTlsOptions } from './tls-options.ts';

const ca = createCa();
const server = createServerCert(ca, { names: ['localhost'], ips: ['127.0.0.1'] });
const pin = pinOf(Buffer.from(server.cert.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'));
let dir: string;
let caFile: string;
let dispatcher: FakeDispatcher;
const agents: Agent[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'picluster-agent-tls-'));
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.cert);
  return () => rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await dispatcher?.close();
});

/** A reconnect timer that only records: the test fires the callbacks itself. */
function manualTimer(): ReconnectTimer & { pending: (() => void)[] } {
  const pending: (() => void)[] = [];
  return { pending, set: (fn) => pending.push(fn), clear: () => undefined };
}

function makeAgent(trust: TlsTrust | undefined, timer?: ReconnectTimer): { agent: Agent; logs: string[] } {
  const logs: string[] = [];
  const agent = new Agent({
    url: dispatcher.url,
    wsOptions: wsTlsOptions(trust),
    token: 'tok',
    log: pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) }),
    identity: async () => ({
      name: 'tls1',
      cpus: 1,
      memoryMb: 512,
      arch: 'arm64',
      platform: 'linux',
      agentVersion: '0.1.0',
      bootId: 'b',
      mac: 'b8:27:eb:00:00:01',
    }),
    health: async () => ({ load1: 0 }),
    runner: new Runner({ workDir: dir, nodeName: 'tls1', log: pino({ level: 'silent' }), killGraceMs: 500, flushMs: 10 }),
    backoff: { baseMs: 10, capMs: 1000, minMs: 5, random: () => 0.5 },
    ...(timer ? { reconnectTimer: timer } : {}),
  });
  agents.push(agent);
  return { agent, logs };
}

const event = <K extends keyof AgentEvents>(agent: Agent, name: K) =>
  once(agent as never, name, { signal: AbortSignal.timeout(10_000) }) as Promise<AgentEvents[K]>;

describe('agent over wss', () => {
  it('connects by pin: hello reaches the dispatcher and the welcome arrives', async () => {
    dispatcher = await FakeDispatcher.start({ tls: server });
    expect(dispatcher.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/agent$/);
    const { agent } = makeAgent(loadTrust({ pin }));
    const welcomed = event(agent, 'welcome');
    agent.start();
    expect((await dispatcher.frame('hello')).node.name).toBe('tls1');
    await welcomed;
  });

  it('connects by CA file (chain and 127.0.0.1 in subjectAltName checked)', async () => {
    dispatcher = await FakeDispatcher.start({ tls: server });
    const { agent } = makeAgent(loadTrust({ caFile }));
    const welcomed = event(agent, 'welcome');
    agent.start();
    await welcomed;
  });

  it('a wrong pin closes before any frame, logs both fingerprints and backs off with growing delays', async () => {
    dispatcher = await FakeDispatcher.start({ tls: server });
    const wrong = `sha256:${'0'.repeat(64)}`;
    const timer = manualTimer();
    const { agent, logs } = makeAgent(loadTrust({ pin: wrong }), timer);
    const delays: number[] = [];
    agent.on('reconnect-scheduled', (e) => {
      expect(e.reason).toBe('backoff');
      delays.push(e.delayMs);
    });
    for (let i = 0; i < 3; i++) {
      const scheduled = event(agent, 'reconnect-scheduled');
      if (i === 0) agent.start();
      else timer.pending.shift()!();
      await scheduled;
    }
    expect(delays).toEqual([8, 13, 23]);
    expect(dispatcher.frames).toEqual([]);
    expect(dispatcher.conns).toEqual([]);
    const errors = logs.map((l) => JSON.parse(l) as { msg: string; err?: string }).filter((l) => l.msg === 'dispatcher connection error');
    expect(errors).toHaveLength(3);
    expect(errors[0]!.err).toBe(`certificate pin mismatch: expected ${wrong}, got ${pin}`);
  });

  it('a certificate from another CA is refused with the verification error and backs off', async () => {
    const other = createCa({ name: 'someone else' });
    dispatcher = await FakeDispatcher.start({ tls: createServerCert(other, { names: ['localhost'], ips: ['127.0.0.1'] }) });
    const timer = manualTimer();
    const { agent, logs } = makeAgent(loadTrust({ caFile }), timer);
    const scheduled = event(agent, 'reconnect-scheduled');
    agent.start();
    expect((await scheduled)[0]).toEqual({ delayMs: 8, reason: 'backoff' });
    expect(dispatcher.frames).toEqual([]);
    const error = logs.map((l) => JSON.parse(l) as { msg: string; err?: string }).find((l) => l.msg === 'dispatcher connection error');
    expect(error?.err).toMatch(/certificate signature failure|unable to verify|self.signed/i);
  });

  it('without a trust setting a self-signed master is refused by the system CAs', async () => {
    dispatcher = await FakeDispatcher.start({ tls: server });
    const { agent, logs } = makeAgent(undefined, manualTimer());
    const scheduled = event(agent, 'reconnect-scheduled');
    agent.start();
    await scheduled;
    expect(dispatcher.frames).toEqual([]);
    expect(logs.join('')).toMatch(/unable to (get local issuer|verify)/);
  });

  it('its fetch (files, artifacts) trusts the same pin and refuses a wrong one', async () => {
    dispatcher = await FakeDispatcher.start({ tls: server });
    const base = dispatcher.url.replace('wss://', 'https://').replace('/agent', '/nothing');
    const res = await agentFetch(loadTrust({ pin }))(base);
    expect([res.status, await res.text()]).toEqual([404, 'not the agent endpoint']);
    await expect(agentFetch(loadTrust({ pin: `sha256:${'1'.repeat(64)}` }))(base)).rejects.toThrow(/certificate pin mismatch/);
  });
});

describe('resolveAgentTls', () => {
  const none = () => undefined;
  const from = (m: Record<string, string>) => (k: string) => m[k];
  it('flag over env over the kernel cmdline; a bad value is a problem, not a throw', () => {
    const p = `sha256:${'a'.repeat(64)}`;
    const q = `sha256:${'b'.repeat(64)}`;
    const problems: string[] = [];
    expect(resolveAgentTls(from({ 'tls-pin': p }), from({ PICLUSTER_AGENT_TLS_PIN: q }), from({ tlspin: q }), problems)).toEqual({ pin: p });
    expect(resolveAgentTls(none, from({ PICLUSTER_AGENT_TLS_PIN: q }), from({ tlspin: p }), problems)).toEqual({ pin: q });
    expect(resolveAgentTls(none, none, from({ tlspin: p.toUpperCase().replace('SHA256:', '') }), problems)).toEqual({ pin: p });
    expect(resolveAgentTls(none, from({ PICLUSTER_AGENT_TLS_CA: caFile }), none, problems)).toEqual({ ca: ca.cert });
    expect(resolveAgentTls(none, none, none, problems)).toBeUndefined();
    expect(problems).toEqual([]);
    expect(resolveAgentTls(from({ 'tls-pin': 'nope', 'tls-ca': join(dir, 'missing.pem') }), none, none, problems)).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/^--tls-ca .*missing\.pem: ENOENT/)]);
  });
});
