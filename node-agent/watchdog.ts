/**
 * Pets a hardware watchdog (`/dev/watchdog`; on a Pi the bcm2835_wdt, whose maximum timeout is
 * about 15 s): opening the device arms it, every write resets it, and writing 'V' before close
 * ("magic close", Documentation/watchdog/watchdog-api.rst) disarms it on a clean stop. If the
 * agent's event loop stalls or the process dies, the pets stop and the board resets.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import type { Logger } from '../common/logger.ts';

export interface WatchdogOptions {
  readonly path: string;
  /** Default 5000: three pets inside the Pi's ~15 s maximum. */
  readonly intervalMs?: number;
  readonly log: Logger;
  readonly onPet?: () => void;
}

export class Watchdog {
  private fd: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: WatchdogOptions) {}

  /** Opens (arms) the device and pets it at once. Throws when it cannot be opened. */
  start(): void {
    if (this.fd !== undefined) return;
    this.fd = openSync(this.o.path, constants.O_WRONLY);
    this.o.log.info({ path: this.o.path, intervalMs: this.o.intervalMs ?? 5000 }, 'watchdog armed');
    this.pet();
    this.timer = setInterval(() => this.pet(), this.o.intervalMs ?? 5000);
  }

  private pet(): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, '.');
      this.o.onPet?.();
    } catch (e) {
      this.o.log.error({ err: e, path: this.o.path }, 'cannot pet the watchdog; the node will reset');
    }
  }

  /** Magic close: write 'V' and close, disarming the watchdog (unless the kernel has nowayout). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, 'V');
    } catch (e) {
      this.o.log.warn({ err: e }, 'watchdog magic close failed');
    }
    closeSync(this.fd);
    this.fd = undefined;
    this.o.log.info({ path: this.o.path }, 'watchdog disarmed');
  }
}
