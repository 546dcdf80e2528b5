/**
 * Node-level commands from the dispatcher: reboot and shutdown run a configured command (default
 * `reboot` / `poweroff`; tests and non-root agents pass their own), identify blinks the board's
 * activity LED through sysfs when there is one.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../common/logger.ts';
import { systemFiles, type FileSource } from './sources.ts';

/** Runs `argv` detached (it must outlive the agent when it is a reboot); resolves with its exit status. */
export function runNodeCommand(argv: readonly string[], log: Logger): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    if (!file) return resolve({ ok: false, detail: 'empty command' });
    let child;
    try {
      child = spawn(file, args, { detached: true, stdio: 'ignore' });
    } catch (e) {
      return resolve({ ok: false, detail: (e as Error).message });
    }
    child.once('error', (e) => {
      log.error({ err: e, argv }, 'node command failed to start');
      resolve({ ok: false, detail: e.message });
    });
    child.once('exit', (code, signal) => {
      const ok = code === 0;
      (ok ? log.info.bind(log) : log.error.bind(log))({ argv, code, signal }, 'node command finished');
      resolve({ ok, detail: signal ? `killed by ${signal}` : `exit code ${code}` });
    });
    child.unref();
  });
}

/** The active trigger in a sysfs LED `trigger` file: `none rc-feedback [mmc0] timer` → `mmc0`. */
export function parseActiveTrigger(text: string): string | undefined {
  return /\[([^\]]+)\]/.exec(text)?.[1];
}

export interface IdentifyOptions {
  readonly seconds: number;
  /** Default `/sys/class/leds`. */
  readonly ledsDir?: string;
  readonly files: FileSource;
  readonly log: Logger;
}

/**
 * Blinks `ACT` (newer kernels) or `led0` at 5 Hz for `seconds`, then restores its trigger.
 * Resolves when done; `{ ok: false }` when the node has no such LED (then it only logs).
 */
export async function identify(o: IdentifyOptions): Promise<{ ok: boolean; detail: string }> {
  const dir = o.ledsDir ?? '/sys/class/leds';
  for (const led of ['ACT', 'led0']) {
    const base = join(dir, led);
    const trigger = await o.files.readFile(join(base, 'trigger'));
    if (trigger === undefined) continue;
    const previous = parseActiveTrigger(trigger) ?? 'none';
    try {
      await writeFile(join(base, 'trigger'), 'timer');
      await writeFile(join(base, 'delay_on'), '100').catch(() => {});
      await writeFile(join(base, 'delay_off'), '100').catch(() => {});
      o.log.info({ led, seconds: o.seconds }, 'identify: blinking');
      await new Promise((r) => setTimeout(r, o.seconds * 1000));
    } catch (e) {
      return { ok: false, detail: `cannot drive ${base}: ${(e as Error).message}` };
    } finally {
      await writeFile(join(base, 'trigger'), previous).catch(() => {});
    }
    return { ok: true, detail: `blinked ${led} for ${o.seconds} s` };
  }
  o.log.info({ seconds: o.seconds }, 'identify: this node has no ACT/led0 LED; logging only');
  return { ok: false, detail: 'no ACT or led0 LED on this node' };
}

export interface CommandOptions {
  readonly ledsDir?: string;
  readonly files?: FileSource;
  readonly rebootCommand?: readonly string[];
  readonly shutdownCommand?: readonly string[];
}

/** A `command` frame from the dispatcher: identify blinks the LEDs (seconds clamped to 0–300), reboot/shutdown run their command. */
export async function runDispatcherCommand(
  m: { readonly command: 'identify' | 'reboot' | 'shutdown'; readonly args?: Readonly<Record<string, unknown>> },
  o: CommandOptions,
  log: Logger,
  announce: (message: string) => void,
): Promise<{ ok: boolean; detail: string }> {
  log.info({ command: m.command }, 'node command from the dispatcher');
  if (m.command === 'identify') {
    const raw = Number(m.args?.seconds ?? 10);
    const seconds = Number.isFinite(raw) ? Math.min(Math.max(raw, 0), 300) : 10;
    return identify({ seconds, ledsDir: o.ledsDir, files: o.files ?? systemFiles, log });
  }
  const argv = m.command === 'reboot' ? (o.rebootCommand ?? ['reboot']) : (o.shutdownCommand ?? ['poweroff']);
  announce(`${m.command}: running ${argv.join(' ')}`);
  return runNodeCommand(argv, log);
}
