/**
 * uhubctl, gpio, ipmi and command drivers against recording stubs on PATH: the real `nodeExec`
 * runs tiny sh scripts that log their exact argv/env and print what the real tools print.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger.ts';
import type { PowerError } from './errors.ts';
import { createPowerDriver, type PowerConfig, type PowerDeps } from './driver.ts';
import { GPIOGET_STUB, GPIOSET_STUB, IPMITOOL_STUB, RELAY_STUB, UHUBCTL_STUB, makeStubDir, type StubDir } from './testing/stubs.ts';

let stubs: StubDir;
const sleeps: number[] = [];

beforeEach(() => {
  sleeps.length = 0;
  stubs = makeStubDir({
    uhubctl: { body: UHUBCTL_STUB },
    gpioset: { body: GPIOSET_STUB },
    gpioget: { body: GPIOGET_STUB },
    ipmitool: { body: IPMITOOL_STUB, recordEnv: ['IPMI_PASSWORD'] },
    relay: { body: RELAY_STUB, recordEnv: ['RELAY_TOKEN'] },
    hang: { body: 'exec sleep 30' },
  });
});
afterEach(() => stubs.cleanup());

function driver(config: PowerConfig, extra: Partial<PowerDeps> = {}) {
  return createPowerDriver(config, {
    log: silentLogger(),
    node: { name: 'node7', mac: 'b8:27:eb:10:00:07' },
    env: { PATH: stubs.path },
    sleep: async (ms) => void sleeps.push(ms),
    ...extra,
  });
}
/** The PowerError a promise rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<PowerError> {
  try {
    await p;
  } catch (e) {
    return e as PowerError;
  }
  throw new Error('expected a rejection');
}
const argvs = (tool: string) =>
  stubs
    .calls()
    .filter((c) => c.tool === tool)
    .map((c) => c.argv);

describe('uhubctl', () => {
  const config = { driver: 'uhubctl', hub: '1-1', port: 2, offMs: 3000 } as const;

  it('switches a port off and on with the exact invocations and reads it back from the listing', async () => {
    const d = driver(config);
    expect(await d.status()).toBe('on');
    await expect(d.off()).resolves.toMatchObject({ ok: true, verified: true, state: 'off' });
    expect(stubs.state('port2')).toBe('off');
    await expect(d.on()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(argvs('uhubctl')).toEqual([
      ['-l', '1-1', '-p', '2'],
      ['-l', '1-1', '-p', '2', '-a', 'off'],
      ['-l', '1-1', '-p', '2'],
      ['-l', '1-1', '-p', '2', '-a', 'on'],
      ['-l', '1-1', '-p', '2'],
    ]);
  });

  it('cycles with uhubctl itself (-a cycle -d <seconds>), repeat and force flags passed', async () => {
    const d = driver({ ...config, repeat: 3, force: true });
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(argvs('uhubctl')[0]).toEqual(['-l', '1-1', '-p', '2', '-a', 'cycle', '-d', '3', '-f', '-r', '3']);
    expect(sleeps).toEqual([]); // the tool times the cycle, not the master
  });

  it('a hub that is not there is refused with uhubctl’s message', async () => {
    const d = driver({ ...config, hub: '3' });
    await expect(d.off()).rejects.toMatchObject({ code: 'POWER_REFUSED', message: expect.stringContaining('No compatible devices') });
  });

  it('a missing uhubctl is unreachable, not a crash', async () => {
    const d = driver({ ...config, command: 'uhubctl-not-installed' });
    await expect(d.status()).rejects.toMatchObject({ code: 'POWER_UNREACHABLE' });
  });
});

describe('gpio', () => {
  it('v1: gpioset <chip> <line>=<v>; no read-back of an output line', async () => {
    const d = driver({ driver: 'gpio', chip: 'gpiochip0', line: 17, offMs: 2000 });
    expect(d.capabilities).toMatchObject({ status: false, verifiable: false });
    await expect(d.off()).resolves.toMatchObject({ ok: true, verified: false, state: 'unknown' });
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: false });
    expect(argvs('gpioset')).toEqual([
      ['gpiochip0', '17=0'],
      ['gpiochip0', '17=0'],
      ['gpiochip0', '17=1'],
    ]);
    expect(argvs('gpioget')).toEqual([]);
    expect(sleeps).toEqual([2000]);
    expect(stubs.state('line17')).toBe('1');
  });

  it('v1 with activeLow and a senseLine verifies through the input line', async () => {
    stubs.setState('line5', '1');
    const d = driver({ driver: 'gpio', line: 17, activeLow: true, senseLine: 5 });
    expect(d.capabilities.verifiable).toBe(true);
    await expect(d.on()).resolves.toMatchObject({ verified: true, state: 'on' });
    expect(stubs.state('line17')).toBe('0'); // active-low relay: on = low
    expect(argvs('gpioset')).toEqual([['-l', 'gpiochip0', '17=1']]);
    expect(argvs('gpioget')).toEqual([['gpiochip0', '5']]);
  });

  it('v2: gpioset -c chip -l -t 0, gpioget --as-is reads the output line back', async () => {
    const d = driver({ driver: 'gpio', tools: 'v2', chip: 'gpiochip4', line: 'GPIO17', activeLow: true, offMs: 1000 });
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(argvs('gpioset')).toEqual([
      ['-c', 'gpiochip4', '-l', '-t', '0', 'GPIO17=0'],
      ['-c', 'gpiochip4', '-l', '-t', '0', 'GPIO17=1'],
    ]);
    expect(argvs('gpioget')).toEqual([
      ['-c', 'gpiochip4', '-a', '--numeric', '-l', 'GPIO17'],
      ['-c', 'gpiochip4', '-a', '--numeric', '-l', 'GPIO17'],
    ]);
    expect(stubs.state('lineGPIO17')).toBe('0');
  });

  it('a read-back that disagrees is POWER_VERIFY_FAILED', async () => {
    // The "relay" is stuck: gpioset does nothing.
    const stuck = makeStubDir({ gpioset: { body: 'exit 0' }, gpioget: { body: GPIOGET_STUB } });
    try {
      const d = driver({ driver: 'gpio', tools: 'v2', line: 4 }, { env: { PATH: stuck.path } });
      await expect(d.on()).rejects.toMatchObject({ code: 'POWER_VERIFY_FAILED', expected: 'on', actual: 'off' });
    } finally {
      stuck.cleanup();
    }
  });
});

describe('ipmi', () => {
  const password = 'Sup3r-s3cret!';
  const config = { driver: 'ipmi', host: '10.9.9.9', user: 'admin', password, verifyIntervalMs: 500 } as const;
  beforeEach(() => writeFileSync(join(stubs.dir, 'password'), password + '\n'));

  it('passes the password only through IPMI_PASSWORD with -E, never in argv', async () => {
    const d = driver(config);
    await expect(d.off()).resolves.toMatchObject({ ok: true, verified: true, state: 'off' });
    const calls = stubs.calls().filter((c) => c.tool === 'ipmitool');
    expect(calls.map((c) => c.argv)).toEqual([
      ['-I', 'lanplus', '-H', '10.9.9.9', '-p', '623', '-U', 'admin', '-E', 'chassis', 'power', 'off'],
      ['-I', 'lanplus', '-H', '10.9.9.9', '-p', '623', '-U', 'admin', '-E', 'chassis', 'power', 'status'],
    ]);
    for (const c of calls) {
      expect(c.env['IPMI_PASSWORD']).toBe(password);
      expect(c.argv.join(' ')).not.toContain(password);
    }
  });

  it('cycle: a running chassis gets `power cycle`; an off one `power on` (BMCs refuse cycle while off)', async () => {
    const d = driver({ ...config, cipherSuite: 17, privilege: 'OPERATOR' });
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    stubs.setState('chassis', 'off');
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on', detail: expect.stringContaining('was off') });
    const verbs = argvs('ipmitool').map((a) => a.slice(-1)[0]);
    expect(verbs).toEqual(['status', 'cycle', 'status', 'status', 'on', 'status']);
    expect(argvs('ipmitool')[0]!.slice(0, 13)).toEqual(['-I', 'lanplus', '-H', '10.9.9.9', '-p', '623', '-U', 'admin', '-E', '-C', '17', '-L', 'OPERATOR']);
  });

  it('a wrong password is refused and the error never contains the configured one', async () => {
    const d = driver({ ...config, password: 'wrong-pass-123' });
    const err = await rejection(d.status());
    expect(err).toMatchObject({ code: 'POWER_REFUSED', message: expect.stringContaining('Unable to establish') });
    expect(JSON.stringify({ m: err.message, s: err.stack, d: err.details })).not.toContain('wrong-pass-123');
  });

  it('a BMC that never reaches the state fails verification after verifyTries read-backs', async () => {
    const lazy = makeStubDir({ ipmitool: { body: 'case "$*" in *status) echo "Chassis Power is on" ;; *) echo "Chassis Power Control: Down/Off" ;; esac' } });
    try {
      const d = driver({ ...config, verifyTries: 3 }, { env: { PATH: lazy.path } });
      await expect(d.off()).rejects.toMatchObject({ code: 'POWER_VERIFY_FAILED', actual: 'on' });
      expect(sleeps).toEqual([500, 500]);
    } finally {
      lazy.cleanup();
    }
  });
});

describe('command', () => {
  const config = {
    driver: 'command',
    on: ['relay', '{node}', 'on'],
    off: 'relay {node} off',
    status: ['relay', '{node}', 'status'],
    onRegex: ':\\s*on$',
    offRegex: ':\\s*off$',
    env: { RELAY_TOKEN: 'tok-abcdef' },
    offMs: 4000,
  } as const;

  it('runs the templates with {node} filled, passes env, verifies with the status regexes', async () => {
    const d = driver(config);
    expect(await d.status()).toBe('off');
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(sleeps).toEqual([4000]);
    const calls = stubs.calls().filter((c) => c.tool === 'relay');
    expect(calls.map((c) => c.argv)).toEqual([
      ['node7', 'status'],
      ['node7', 'off'],
      ['node7', 'status'],
      ['node7', 'on'],
      ['node7', 'status'],
    ]);
    expect(calls.every((c) => c.env['RELAY_TOKEN'] === 'tok-abcdef')).toBe(true);
  });

  it('uses a cycle template when given; {mac} placeholders', async () => {
    const d = driver({ driver: 'command', cycle: ['relay', '{mac}', 'on'] });
    expect(d.capabilities).toEqual({ on: false, off: false, cycle: true, status: false, verifiable: false });
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: false, state: 'unknown' });
    await expect(d.on()).rejects.toMatchObject({ code: 'POWER_UNSUPPORTED' });
    expect(argvs('relay')).toEqual([['b8:27:eb:10:00:07', 'on']]);
  });

  it('a failing command is refused with its stderr; the env secret is scrubbed from it', async () => {
    const d = driver({ driver: 'command', on: ['relay', 'node7', 'tok-abcdef'], env: { RELAY_TOKEN: 'tok-abcdef' } });
    const err = await rejection(d.on());
    expect(err.code).toBe('POWER_REFUSED');
    expect(err.message).toContain('usage: relay');
    expect(err.message).not.toContain('tok-abcdef');
  });

  it('when the "on" half of an emulated cycle fails, the error says the node was left off', async () => {
    const d = driver({ ...config, on: ['relay', '{node}', 'bogus'] });
    await expect(d.cycle()).rejects.toMatchObject({ code: 'POWER_REFUSED', details: expect.objectContaining({ phase: 'on', leftOff: true }) });
    expect(stubs.state('relay-node7')).toBe('off');
  });

  it('a hung tool is killed after timeoutMs (POWER_TIMEOUT)', async () => {
    const d = driver({ driver: 'command', on: ['hang'], timeoutMs: 200 });
    await expect(d.on()).rejects.toMatchObject({ code: 'POWER_TIMEOUT' });
  });
});
