/**
 * Power config validation (every problem at once, per driver), redaction for API responses, the
 * guard (unsupported actions, secret scrubbing in logs/errors), and the agent and manual drivers.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../common/logger.ts';
import { createPowerDriver, describePowerConfig, POWER_DRIVERS, validatePowerConfig, type PowerAlert, type PowerConfig } from './driver.ts';
import { PowerConfigError, type PowerError } from './errors.ts';

const deps = { log: silentLogger(), node: { name: 'node7', mac: 'b8:27:eb:10:00:07' } };
async function rejection(p: Promise<unknown>): Promise<PowerError> {
  try {
    await p;
  } catch (e) {
    return e as PowerError;
  }
  throw new Error('expected a rejection');
}

describe('validatePowerConfig', () => {
  it('knows every driver', () => {
    expect([...POWER_DRIVERS].sort()).toEqual(['agent', 'command', 'gpio', 'http', 'ipmi', 'manual', 'qemu', 'snmp-poe', 'uhubctl']);
  });

  it.each([
    ['manual', { driver: 'manual' }],
    ['manual with instructions', { driver: 'manual', instructions: 'shelf 2, plug 3' }],
    ['agent', { driver: 'agent' }],
    ['snmp-poe v2c', { driver: 'snmp-poe', host: '10.0.0.2', community: 'private', port: 7 }],
    [
      'snmp-poe v3 authPriv',
      { driver: 'snmp-poe', host: 'sw1', version: '3', user: { name: 'u', authKey: '12345678', privKey: '87654321' }, port: 1, group: 2 },
    ],
    ['snmp-poe v3 noAuthNoPriv', { driver: 'snmp-poe', host: 'sw1', version: '3', user: { name: 'u' }, port: 1 }],
    ['webhook', { driver: 'http', on: 'http://h/on', off: { method: 'POST', url: 'http://h/off', body: '{"node":"{node}"}' } }],
    ['tasmota', { driver: 'http', preset: 'tasmota', url: 'http://10.0.0.31', user: 'admin', password: 'x' }],
    ['shelly', { driver: 'http', preset: 'shelly', url: 'http://10.0.0.32', switchId: 1, password: 'x', offMs: 3000 }],
    ['uhubctl', { driver: 'uhubctl', hub: '1-1.3', port: 2 }],
    ['gpio v1', { driver: 'gpio', line: 17, activeLow: true }],
    ['gpio v2 by name', { driver: 'gpio', tools: 'v2', line: 'GPIO17' }],
    ['ipmi', { driver: 'ipmi', host: '10.0.0.40', user: 'ADMIN', password: 'pw', cipherSuite: 17 }],
    ['command', { driver: 'command', cycle: 'relay {node} cycle' }],
    ['qemu tcp', { driver: 'qemu', qmp: 'tcp:127.0.0.1:4444' }],
    ['qemu quit', { driver: 'qemu', qmp: '/run/vm.sock', offMode: 'quit', cycleMode: 'restart', restartCommand: ['/usr/local/bin/start-vm', '{node}'] }],
  ])('accepts %s', (_, config) => {
    expect(validatePowerConfig(config)).toEqual([]);
  });

  it.each<[string, unknown, { path: string; message: RegExp }[]]>([
    ['not a mapping', 'manual', [{ path: '', message: /mapping/ }]],
    ['no driver', {}, [{ path: 'driver', message: /required/ }]],
    ['unknown driver', { driver: 'zigbee' }, [{ path: 'driver', message: /unknown power driver 'zigbee'.*snmp-poe/ }]],
    [
      'snmp-poe: several problems at once',
      { driver: 'snmp-poe', port: 0, snmpPort: 70000, version: '2c', user: { name: 'x' }, typo: 1 },
      [
        { path: 'typo', message: /Unexpected property/ },
        { path: 'host', message: /Expected required property/ },
        { path: 'snmpPort', message: /less or equal to 65535/ },
        { path: 'port', message: /greater or equal to 1/ },
        { path: 'community', message: /required for SNMP v2c/ },
        { path: 'user', message: /only for SNMP v3/ },
      ],
    ],
    [
      'snmp-poe v3 authPriv without keys',
      { driver: 'snmp-poe', host: 'sw', version: '3', port: 1, community: 'c', user: { name: 'u', level: 'authPriv', authKey: 'short' } },
      [
        { path: 'user.authKey', message: /length greater or equal to 8/ },
        { path: 'community', message: /only for SNMP v2c/ },
        { path: 'user.privKey', message: /required for authPriv/ },
      ],
    ],
    [
      'webhook: status without regexes, bad regex, bad URL',
      { driver: 'http', on: 'ftp://x', status: 'http://h/s', offRegex: '(' },
      [
        { path: 'on', message: /.+/ },
        { path: 'onRegex', message: /required with status/ },
        { path: 'offRegex', message: /not a valid regular expression/ },
      ],
    ],
    [
      'http: unknown preset',
      { driver: 'http', preset: 'sonoff' },
      [{ path: 'preset', message: /unknown preset "sonoff" \(known: webhook, tasmota, shelly\)/ }],
    ],
    [
      'tasmota: password without user',
      { driver: 'http', preset: 'tasmota', url: 'http://p', password: 'x' },
      [{ path: 'user', message: /required with password/ }],
    ],
    [
      'shelly: offMs below toggle_after resolution, keys of another preset',
      { driver: 'http', preset: 'shelly', url: 'http://s', offMs: 500, relay: 2 },
      [
        { path: 'relay', message: /Unexpected property/ },
        { path: 'offMs', message: /at least 1000 ms/ },
      ],
    ],
    [
      'uhubctl: bad hub, no port',
      { driver: 'uhubctl', hub: '1-1;reboot' },
      [
        { path: 'hub', message: /to match/ },
        { path: 'port', message: /required/ },
      ],
    ],
    ['gpio v1 with a line name', { driver: 'gpio', line: 'GPIO17' }, [{ path: 'line', message: /v1 tools take a line offset/ }]],
    [
      'ipmi: no user/password, host like an option',
      { driver: 'ipmi', host: '-oProxyCommand' },
      [
        { path: 'host', message: /to match/ },
        { path: 'user', message: /required/ },
        { path: 'password', message: /required/ },
      ],
    ],
    [
      'command: nothing to run, regex without status',
      { driver: 'command', onRegex: 'on' },
      [
        { path: '', message: /at least one of on, off, cycle/ },
        { path: 'status', message: /need a status template/ },
      ],
    ],
    [
      'qemu: bad target, restart cycle without quit',
      { driver: 'qemu', qmp: 'vm.sock', cycleMode: 'restart' },
      [
        { path: 'qmp', message: /unix:\/path/ },
        { path: 'cycleMode', message: /needs offMode: quit/ },
      ],
    ],
  ])('%s', (_, config, expected) => {
    const problems = validatePowerConfig(config);
    for (const e of expected) expect(problems).toContainEqual({ path: e.path, message: expect.stringMatching(e.message) });
    expect(problems).toHaveLength(expected.length);
  });

  it('prefixes paths for the inventory', () => {
    expect(validatePowerConfig({ driver: 'uhubctl', hub: '1-1' }, { path: 'nodes[3].power' })).toEqual([
      { path: 'nodes[3].power.port', message: expect.stringMatching(/required/) },
    ]);
  });

  it('createPowerDriver throws POWER_BAD_CONFIG listing every problem, secrets not echoed', () => {
    let err: PowerConfigError | undefined;
    try {
      createPowerDriver({ driver: 'ipmi', password: 'hunter2-secret', port: 0 } as PowerConfig, deps);
    } catch (e) {
      err = e as PowerConfigError;
    }
    expect(err).toBeInstanceOf(PowerConfigError);
    expect(err!.code).toBe('POWER_BAD_CONFIG');
    expect(err!.problems.map((p) => p.path).sort()).toEqual(['host', 'port', 'user']);
    expect(err!.message).toMatch(/node7/);
    expect(err!.message).not.toContain('hunter2-secret');
  });
});

describe('describePowerConfig (what API responses show)', () => {
  it.each<[string, Record<string, unknown>, string[], Record<string, unknown>]>([
    [
      'snmp v2c community',
      { driver: 'snmp-poe', host: 'sw', community: 'c0mmunity', port: 1 },
      ['c0mmunity'],
      { community: '[redacted]', host: 'sw', port: 1 },
    ],
    [
      'snmp v3 keys',
      { driver: 'snmp-poe', host: 'sw', version: '3', port: 1, user: { name: 'poe', authKey: 'auth-secret', privKey: 'priv-secret', authProtocol: 'sha' } },
      ['auth-secret', 'priv-secret'],
      { user: { name: 'poe', authKey: '[redacted]', privKey: '[redacted]', authProtocol: 'sha' } },
    ],
    ['ipmi password', { driver: 'ipmi', host: 'bmc', user: 'ADMIN', password: 'ipmi-pass' }, ['ipmi-pass'], { user: 'ADMIN', password: '[redacted]' }],
    [
      'tasmota password',
      { driver: 'http', preset: 'tasmota', url: 'http://p', user: 'admin', password: 'plug-pw' },
      ['plug-pw'],
      { user: 'admin', password: '[redacted]' },
    ],
    [
      'webhook auth, headers and URL credentials',
      {
        driver: 'http',
        on: { url: 'http://ops:url-pass@h/on?token=url-token&node={node}', headers: { 'X-Api-Key': 'hdr-key', Accept: 'application/json' } },
        auth: { type: 'bearer', token: 'bearer-tok' },
      },
      ['url-pass', 'url-token', 'hdr-key', 'bearer-tok'],
      {
        on: { url: 'http://ops:[redacted]@h/on?token=[redacted]&node={node}', headers: { 'X-Api-Key': '[redacted]', Accept: 'application/json' } },
        auth: { type: 'bearer', token: '[redacted]' },
      },
    ],
    [
      'command env',
      { driver: 'command', on: 'relay on', env: { RELAY_HOST: 'r1', RELAY_KEY: 'k-123' } },
      ['k-123', 'r1'],
      { env: { RELAY_HOST: '[redacted]', RELAY_KEY: '[redacted]' }, on: 'relay on' },
    ],
  ])('%s', (_, config, secrets, expected) => {
    const shown = describePowerConfig(config);
    expect(shown).toMatchObject(expected);
    for (const s of secrets) expect(JSON.stringify(shown)).not.toContain(s);
    expect(config).not.toMatchObject(expected); // the input is not modified
  });
});

describe('guard, agent and manual', () => {
  it('an action without the capability is POWER_UNSUPPORTED and does no I/O', async () => {
    let calls = 0;
    const d = createPowerDriver({ driver: 'agent' }, { ...deps, rebootViaAgent: async () => void calls++ });
    expect(d.capabilities).toEqual({ on: false, off: false, cycle: true, status: false, verifiable: false });
    expect((await rejection(d.off())).code).toBe('POWER_UNSUPPORTED');
    expect(await d.status()).toBe('unknown');
    await expect(d.cycle()).resolves.toEqual({ ok: true, verified: false, state: 'unknown', detail: 'reboot requested via the agent of node7' });
    expect(calls).toBe(1);
  });

  it('agent: no link or a failing link is POWER_UNREACHABLE; a hung agent times out', async () => {
    expect((await rejection(createPowerDriver({ driver: 'agent' }, deps).cycle())).code).toBe('POWER_UNREACHABLE');
    const refused = createPowerDriver({ driver: 'agent' }, { ...deps, rebootViaAgent: async () => Promise.reject(new Error('node7 is not connected')) });
    expect(await rejection(refused.cycle())).toMatchObject({ code: 'POWER_UNREACHABLE', message: expect.stringContaining('not connected') });
    const hung = createPowerDriver({ driver: 'agent', timeoutMs: 20 }, { ...deps, rebootViaAgent: () => new Promise(() => {}) });
    expect((await rejection(hung.cycle())).code).toBe('POWER_TIMEOUT');
  });

  it('manual: raises an alert per action and reports ok:false, verified:false', async () => {
    const alerts: PowerAlert[] = [];
    const d = createPowerDriver({ driver: 'manual', instructions: 'rack A, plug 3' }, { ...deps, raiseAlert: (a) => void alerts.push(a) });
    const r = await d.cycle();
    expect(r).toMatchObject({ ok: false, verified: false, state: 'unknown' });
    expect(r.detail).toMatch(/a human to power-cycle node7/);
    expect(alerts).toEqual([{ node: 'node7', driver: 'manual', action: 'cycle', message: 'please power-cycle node7 by hand: rack A, plug 3' }]);
    expect(await d.status()).toBe('unknown');
  });

  it('logs one line per action with the outcome and never a secret', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(chunk.toString()), cb()) });
    const log = createLogger({ level: 'debug' }, sink);
    const d = createPowerDriver(
      { driver: 'command', on: ['false', 'cmd-secret-arg'], off: ['true'], env: { TOKEN: 'cmd-secret-arg' } },
      { log, node: { name: 'node7' } },
    );
    await d.off();
    await rejection(d.on());
    const text = lines.join('');
    expect(text).toContain('"power action done"');
    expect(text).toContain('"power action failed"');
    expect(text).toContain('"code":"POWER_REFUSED"');
    expect(text).not.toContain('cmd-secret-arg');
  });
});
