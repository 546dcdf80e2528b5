/**
 * snmp-poe against Debian's snmpd on loopback, serving a writable pethPsePortAdminEnable column
 * through pass_persist: set + read-back over SNMP v2c and v3 (authPriv, SHA/AES), refusals,
 * timeouts, a port that ignores sets, and the master-timed cycle.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger.ts';
import { createPowerDriver, type PowerConfig } from './driver.ts';
import type { PowerError } from './errors.ts';
import { SNMPD, V2C_RO, V2C_RW, V3_USER, startSnmpd, type Snmpd } from './testing/snmpd.ts';

const OID = '1.3.6.1.2.1.105.1.1.1.3';
let agent: Snmpd;
const sleeps: number[] = [];
let onSleep: (ms: number) => void = () => {};

const driver = (config: Record<string, unknown>) =>
  createPowerDriver({ driver: 'snmp-poe', host: '127.0.0.1', snmpPort: agent.port, timeoutMs: 2000, ...config } as PowerConfig, {
    log: silentLogger(),
    node: { name: 'node7' },
    sleep: async (ms) => {
      sleeps.push(ms);
      onSleep(ms);
    },
  });
async function rejection(p: Promise<unknown>): Promise<PowerError> {
  try {
    await p;
  } catch (e) {
    return e as PowerError;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!SNMPD)(SNMPD ? 'snmp-poe against snmpd' : 'snmp-poe against snmpd: skipped, snmpd is not installed (apt-get install snmpd)', () => {
  beforeAll(async () => {
    agent = await startSnmpd({ '1.1': 1, '1.2': 1, '1.3': 2, '1.8': 1, '2.1': 1 });
  });
  afterAll(async () => agent?.stop());
  beforeEach(() => {
    sleeps.length = 0;
    onSleep = () => {};
  });

  describe('v2c', () => {
    const v2c = { version: '2c', community: V2C_RW };

    it('off then on: each set is read back from the agent', async () => {
      const d = driver({ ...v2c, port: 2 });
      expect(await d.status()).toBe('on');
      await expect(d.off()).resolves.toMatchObject({ ok: true, verified: true, state: 'off' });
      expect(agent.table()['1.2']).toBe(2);
      await expect(d.on()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
      expect(agent.table()['1.2']).toBe(1);
      expect(agent.sets().filter((s) => s.startsWith('1.2 '))).toEqual(['1.2 2', '1.2 1']);
    });

    it('an independent client (snmpget) sees the state the driver set', async () => {
      const d = driver({ ...v2c, port: 3 });
      await d.on();
      const snmpget = ['/usr/bin/snmpget', '/usr/local/bin/snmpget'].find((p) => existsSync(p));
      if (!snmpget) return; // the agent's own table was checked above; snmp tools are optional here
      const out = execFileSync(snmpget, ['-v2c', '-c', V2C_RO, '-On', '-Oe', `127.0.0.1:${agent.port}`, `.${OID}.1.3`], {
        encoding: 'utf8',
        env: { MIBS: '' },
      });
      expect(out).toMatch(/INTEGER: 1/);
    });

    it('cycle = off, offMs (injected sleep, port dark meanwhile), on', async () => {
      const d = driver({ ...v2c, group: 2, port: 1, offMs: 7000 });
      let duringWait: number | undefined;
      onSleep = () => (duringWait = agent.table()['2.1']);
      await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
      expect(sleeps).toEqual([7000]);
      expect(duringWait).toBe(2);
      expect(agent.sets().filter((s) => s.startsWith('2.1 '))).toEqual(['2.1 2', '2.1 1']);
    });

    it('a read-only community is refused by the agent (noAccess)', async () => {
      const err = await rejection(driver({ version: '2c', community: V2C_RO, port: 1 }).off());
      expect(err.code).toBe('POWER_REFUSED');
      expect(agent.table()['1.1']).toBe(1);
      expect(err.message).not.toContain(V2C_RO);
    });

    it('a wrong community gets no answer: POWER_TIMEOUT, community not in the error', async () => {
      const err = await rejection(driver({ version: '2c', community: 'not-the-community', port: 1, timeoutMs: 300, retries: 0 }).status());
      expect(err.code).toBe('POWER_TIMEOUT');
      expect(`${err.message} ${err.stack} ${JSON.stringify(err.details)}`).not.toContain('not-the-community');
    });

    it('a port that accepts the set but does not change fails verification', async () => {
      const err = await rejection(driver({ ...v2c, port: 8 }).off());
      expect(err).toMatchObject({ code: 'POWER_VERIFY_FAILED', expected: 'off', actual: 'on' });
      expect(agent.sets()).toContain('1.8 2');
    });

    it('a port the switch does not have is refused (noSuchInstance)', async () => {
      const err = await rejection(driver({ ...v2c, port: 42 }).status());
      expect(err.code).toBe('POWER_REFUSED');
      expect(err.message).toMatch(/no such PoE port|NoSuch/i);
    });
  });

  describe('v3 (authPriv, SHA + AES, user made with createUser)', () => {
    const v3 = { version: '3', user: { name: V3_USER.name, authProtocol: 'sha', authKey: V3_USER.authKey, privProtocol: 'aes', privKey: V3_USER.privKey } };

    it('off then on, read back', async () => {
      const d = driver({ ...v3, port: 1 });
      await expect(d.off()).resolves.toMatchObject({ ok: true, verified: true, state: 'off' });
      expect(agent.table()['1.1']).toBe(2);
      await expect(d.on()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
      expect(agent.table()['1.1']).toBe(1);
    });

    it('a wrong auth key fails without leaking either key', async () => {
      const err = await rejection(driver({ ...v3, user: { ...v3.user, authKey: 'wrong-auth-key' }, port: 1, timeoutMs: 500, retries: 0 }).status());
      expect(err.code).toBe('POWER_REFUSED');
      expect(err.message).toMatch(/Wrong Digest/);
      const text = `${err.message} ${err.stack} ${JSON.stringify(err.details)}`;
      expect(text).not.toContain('wrong-auth-key');
      expect(text).not.toContain(V3_USER.privKey);
    });
  });
});
