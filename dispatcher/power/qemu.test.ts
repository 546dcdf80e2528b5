/**
 * The qemu driver against a real QEMU over QMP (`-machine none`: no guest, starts in well under a
 * second). Skips with a reason when qemu-system-x86_64 is not installed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger.ts';
import { createPowerDriver, type PowerDeps } from './driver.ts';
import type { PowerError } from './errors.ts';

const QEMU = ['/usr/bin/qemu-system-x86_64', '/usr/local/bin/qemu-system-x86_64'].find((p) => existsSync(p));

let dir: string;
let sock: string;
const vms: ChildProcess[] = [];

const canConnect = (path: string) =>
  new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/** Starts QEMU and resolves once its QMP socket accepts connections. */
async function startQemu(): Promise<ChildProcess> {
  const vm = spawn(QEMU!, ['-machine', 'none', '-nodefaults', '-display', 'none', '-qmp', `unix:${sock},server=on,wait=off`], { stdio: 'ignore' });
  vms.push(vm);
  let exited = false;
  vm.once('exit', () => (exited = true));
  await expect.poll(async () => exited || (await canConnect(sock)), { timeout: 10_000 }).toBe(true);
  if (exited) throw new Error('qemu exited at start');
  return vm;
}
async function rejection(p: Promise<unknown>): Promise<PowerError> {
  try {
    await p;
  } catch (e) {
    return e as PowerError;
  }
  throw new Error('expected a rejection');
}
const make = (config: Record<string, unknown>, deps: Partial<PowerDeps> = {}) =>
  createPowerDriver({ driver: 'qemu', qmp: `unix:${sock}`, ...config }, { log: silentLogger(), node: { name: 'vm1' }, sleep: async () => {}, ...deps });

describe.skipIf(!QEMU)(QEMU ? 'qemu over QMP' : 'qemu over QMP: skipped, qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'picluster-qemu-'));
    sock = join(dir, 'qmp.sock');
  });
  afterEach(async () => {
    for (const vm of vms.splice(0)) {
      if (vm.exitCode === null && vm.signalCode === null) {
        const exited = once(vm, 'exit');
        process.kill(vm.pid!, 'SIGTERM');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('stop/cont/system_reset with query-status read-back', async () => {
    await startQemu();
    const d = make({});
    expect(await d.status()).toBe('on');
    await expect(d.off()).resolves.toMatchObject({ ok: true, verified: true, state: 'off' });
    expect(await d.status()).toBe('off');
    // A cycle of a paused VM resets it and lets it run.
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    await expect(d.off()).resolves.toMatchObject({ state: 'off' });
    await expect(d.on()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
  });

  it('offMode quit: off ends the QEMU process; on runs the restart hook and waits for it', async () => {
    const first = await startQemu();
    let restarts = 0;
    const d = make({ offMode: 'quit', cycleMode: 'restart' }, { restartQemu: async () => void (restarts++, await startQemu()) });
    const exited = once(first, 'exit');
    await expect(d.off()).resolves.toMatchObject({ ok: true, verified: true, state: 'off' });
    await exited;
    expect(await d.status()).toBe('off');
    await expect(d.on()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(restarts).toBe(1);
    // cycleMode restart: a fresh process.
    const second = vms.at(-1)!;
    await expect(d.cycle()).resolves.toMatchObject({ ok: true, verified: true, state: 'on' });
    expect(second.exitCode !== null || second.signalCode !== null).toBe(true);
    expect(restarts).toBe(2);
  });

  it('stop mode: no QEMU behind the socket is POWER_UNREACHABLE; quit mode without a restart hook cannot power on', async () => {
    expect((await rejection(make({}).status())).code).toBe('POWER_UNREACHABLE');
    const d = make({ offMode: 'quit' });
    expect(await d.status()).toBe('off');
    const err = await rejection(d.on());
    expect(err).toMatchObject({ code: 'POWER_UNREACHABLE', message: expect.stringContaining('restartCommand') });
  });

  it('a QMP command error is refused (POWER_REFUSED)', async () => {
    await startQemu();
    const { qmpConnect } = await import('./qmp.ts');
    const q = await qmpConnect({ path: sock }, 2000, 'test');
    try {
      await expect(q.execute('no-such-command')).rejects.toMatchObject({ code: 'POWER_REFUSED' });
    } finally {
      q.close();
    }
  });
});
