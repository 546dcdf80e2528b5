/**
 * The http driver's presets against in-test servers that follow the documented device APIs:
 * Tasmota (`/cm?cmnd=Power%20On`), Shelly Gen2 JSON-RPC (including `toggle_after` on an injected
 * clock and Digest auth), and a MAAS-style webhook with a bearer token.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { createPowerDriver, describePowerConfig, type PowerConfig } from './driver.ts';
import type { PowerError } from './errors.ts';
import { startShelly, startTasmota, startWebhook, type TestDevice } from './testing/http-devices.ts';

const devices: TestDevice[] = [];
afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.close()));
});
async function rejection(p: Promise<unknown>): Promise<PowerError> {
  try {
    await p;
  } catch (e) {
    return e as PowerError;
  }
  throw new Error('expected a rejection');
}
function make(config: Record<string, unknown>, clock = new ManualClock(), sleeps: number[] = []) {
  return createPowerDriver({ driver: 'http', ...config } as PowerConfig, {
    log: silentLogger(),
    node: { name: 'node7', mac: 'b8:27:eb:10:00:07' },
    clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
  });
}

describe('tasmota', () => {
  it('Power Off / Power On with read-back through cmnd=Power', async () => {
    const t = await startTasmota();
    devices.push(t);
    const d = make({ preset: 'tasmota', url: t.url });
    expect(await d.status()).toBe('on');
    await expect(d.off()).resolves.toMatchObject({ ok: true, verified: true, state: 'off' });
    expect(t.relays[0]).toBe(false);
    await expect(d.on()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(t.requests.map((r) => r.url)).toEqual(['/cm?cmnd=Power1', '/cm?cmnd=Power1%20Off', '/cm?cmnd=Power1', '/cm?cmnd=Power1%20On', '/cm?cmnd=Power1']);
  });

  it('relay 2 of a multi-relay device, user/password parameters, master-timed cycle', async () => {
    const t = await startTasmota({ relays: 2, user: 'admin', password: 'plug-pass' });
    devices.push(t);
    const sleeps: number[] = [];
    const d = make({ preset: 'tasmota', url: t.url + '/', relay: 2, user: 'admin', password: 'plug-pass', offMs: 3000 }, new ManualClock(), sleeps);
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(sleeps).toEqual([3000]);
    expect(t.relays).toEqual([true, true]);
    expect(t.requests[0]!.url).toBe('/cm?user=admin&password=plug-pass&cmnd=Power2%20Off');
  });

  it('a wrong password is refused, and the password is not in the error', async () => {
    const t = await startTasmota({ user: 'admin', password: 'right-pass' });
    devices.push(t);
    const err = await rejection(make({ preset: 'tasmota', url: t.url, user: 'admin', password: 'wrong-pass' }).on());
    expect(err.code).toBe('POWER_REFUSED');
    expect(`${err.message} ${err.stack}`).not.toContain('wrong-pass');
  });

  it('a device that is not there is unreachable', async () => {
    const t = await startTasmota();
    await t.close();
    const err = await rejection(make({ preset: 'tasmota', url: t.url }).status());
    expect(err.code).toBe('POWER_UNREACHABLE');
  });
});

describe('shelly gen2', () => {
  it('Switch.Set on/off with Switch.GetStatus read-back', async () => {
    const s = await startShelly(new ManualClock());
    devices.push(s);
    const d = make({ preset: 'shelly', url: s.url });
    await expect(d.off()).resolves.toMatchObject({ ok: true, verified: true, state: 'off' });
    expect(s.outputs[0]).toBe(false);
    await expect(d.on()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    const frames = s.requests.map((r) => JSON.parse(r.body) as { method: string; params: unknown });
    expect(frames.map((f) => [f.method, f.params])).toEqual([
      ['Switch.Set', { id: 0, on: false }],
      ['Switch.GetStatus', { id: 0 }],
      ['Switch.Set', { id: 0, on: true }],
      ['Switch.GetStatus', { id: 0 }],
    ]);
  });

  it('cycle is device-timed: toggle_after turns it back on by itself', async () => {
    const clock = new ManualClock();
    const s = await startShelly(clock);
    devices.push(s);
    const sleeps: number[] = [];
    const d = make({ preset: 'shelly', url: s.url, offMs: 4000 }, clock, sleeps);
    const result = await d.cycle();
    expect(result).toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(result.detail).toMatch(/toggle_after 4 s/);
    expect(sleeps).toEqual([4000]);
    const frames = s.requests.map((r) => JSON.parse(r.body) as { method: string; params: unknown });
    expect(frames[0]).toMatchObject({ method: 'Switch.Set', params: { id: 0, on: false, toggle_after: 4 } });
    expect(s.outputs[0]).toBe(true);
  });

  it('the device flips back even when the master never comes back (crash mid-cycle)', async () => {
    const clock = new ManualClock();
    const s = await startShelly(clock);
    devices.push(s);
    // Sleep "forever": the master dies during the off time.
    const d = createPowerDriver(
      { driver: 'http', preset: 'shelly', url: s.url, offMs: 5000 },
      { log: silentLogger(), node: { name: 'n' }, sleep: () => new Promise(() => {}) },
    );
    void d.cycle();
    await expect.poll(() => s.timers.size).toBe(1);
    expect(s.outputs[0]).toBe(false);
    clock.advance(5000);
    const probe = make({ preset: 'shelly', url: s.url }, clock);
    expect(await probe.status()).toBe('on');
  });

  it('polls after the off time until the switch is back on (verifyTries × verifyIntervalMs)', async () => {
    const clock = new ManualClock();
    // The device's timer fires 2 s late (relative to offMs): two extra reads are needed.
    const s = await startShelly(clock, { lateMs: 2000 });
    devices.push(s);
    const sleeps: number[] = [];
    const d = make({ preset: 'shelly', url: s.url, offMs: 3000, verifyTries: 5, verifyIntervalMs: 1000 }, clock, sleeps);
    await expect(d.cycle()).resolves.toMatchObject({ state: 'on', verified: true });
    expect(sleeps).toEqual([3000, 1000, 1000]);
    // ... and gives up with POWER_VERIFY_FAILED when it never comes back within the tries.
    const never = await startShelly(clock, { lateMs: 60_000 });
    devices.push(never);
    const err = await rejection(make({ preset: 'shelly', url: never.url, offMs: 3000, verifyTries: 3 }, clock).cycle());
    expect(err).toMatchObject({ code: 'POWER_VERIFY_FAILED', expected: 'on', actual: 'off' });
  });

  it('Digest auth (SHA-256) with the device password; a wrong one is refused', async () => {
    const s = await startShelly(new ManualClock(), { password: 'shelly-pass' });
    devices.push(s);
    await expect(make({ preset: 'shelly', url: s.url, password: 'shelly-pass' }).off()).resolves.toMatchObject({ verified: true, state: 'off' });
    expect(s.requests.some((r) => r.authorization?.startsWith('Digest username="admin"'))).toBe(true);
    expect(s.requests.every((r) => !r.authorization?.includes('shelly-pass'))).toBe(true);
    const err = await rejection(make({ preset: 'shelly', url: s.url, password: 'nope-nope' }).on());
    expect(err).toMatchObject({ code: 'POWER_REFUSED', message: expect.stringContaining('wrong password') });
  });

  it('an unknown switch id is refused with the device’s RPC error', async () => {
    const s = await startShelly(new ManualClock());
    devices.push(s);
    const err = await rejection(make({ preset: 'shelly', url: s.url, switchId: 3 }).status());
    expect(err).toMatchObject({ code: 'POWER_REFUSED', message: expect.stringContaining('not found') });
  });
});

describe('webhook (MAAS-style)', () => {
  const token = 'hook-token-0123456789';
  const config = (url: string) => ({
    on: { method: 'POST', url: `${url}/machines/{node}/on` },
    off: { method: 'POST', url: `${url}/machines/{node}/off` },
    status: `${url}/machines/{node}`,
    onRegex: '"status"\\s*:\\s*"running"',
    offRegex: '"status"\\s*:\\s*"stopped"',
    auth: { type: 'bearer', token },
    offMs: 2500,
  });

  it('on/off/status templates with {node}, bearer auth, regex read-back, emulated cycle', async () => {
    const w = await startWebhook({ token });
    devices.push(w);
    const sleeps: number[] = [];
    const d = make(config(w.url), new ManualClock(), sleeps);
    expect(await d.status()).toBe('off');
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(sleeps).toEqual([2500]);
    expect(w.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /machines/node7',
      'POST /machines/node7/off',
      'GET /machines/node7',
      'POST /machines/node7/on',
      'GET /machines/node7',
    ]);
  });

  it('an HTTP status outside okStatus is refused; the token never shows', async () => {
    const w = await startWebhook({ token });
    devices.push(w);
    const d = make({ ...config(w.url), auth: { type: 'bearer', token: 'wrong-token-xyz' } });
    const err = await rejection(d.on());
    expect(err).toMatchObject({ code: 'POWER_REFUSED', details: expect.objectContaining({ httpStatus: 403 }) });
    expect(`${err.message} ${err.stack} ${JSON.stringify(err.details)}`).not.toContain('wrong-token-xyz');
    expect(JSON.stringify(describePowerConfig({ driver: 'http', ...config(w.url) }))).not.toContain(token);
  });
});
