/**
 * "Disk full is a state, not a crash." The master watches the free space of its data directory
 * (`statfs`, every `diskCheckMs`, and at once when the store refuses a write). Below
 * `minFreeDiskBytes` it is `low`: new submissions are refused with 507 (`STORAGE_FULL`, with how
 * much is free and where), reads keep working, writes made from handlers are kept and retried
 * (store-retry.ts), and a `disk-low` alert is raised (if the store can still take it). When space
 * returns it is `ok` again and everything carries on; nothing committed is touched.
 */
import { EventEmitter } from 'node:events';
import { statfsSync } from 'node:fs';
import { StorageFullError } from './errors.ts';
import type { Logger } from '../common/logger.ts';

export interface DiskSpace {
  readonly freeBytes: number;
  readonly totalBytes: number;
}

/** Free space as an unprivileged process may use it (`bavail`). */
export function statDisk(path: string): DiskSpace {
  const s = statfsSync(path);
  return { freeBytes: Number(s.bavail) * Number(s.bsize), totalBytes: Number(s.blocks) * Number(s.bsize) };
}

export interface DiskWatchOptions {
  readonly path: string;
  readonly minFreeBytes: number;
  readonly log: Logger;
  /** Defaults to statfs; tests inject one. */
  readonly stat?: (path: string) => DiskSpace;
}

interface DiskWatchEvents {
  change: [state: { low: boolean; freeBytes: number; message: string }];
}

export class DiskWatch extends EventEmitter<DiskWatchEvents> {
  private lowNow = false;
  private lastFree = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: DiskWatchOptions) {
    super();
  }

  get low(): boolean {
    return this.lowNow;
  }

  get freeBytes(): number {
    return this.lastFree;
  }

  describe(): string {
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    return `the data directory ${this.o.path} has ${Number.isFinite(this.lastFree) ? mib(this.lastFree) : 'no'} free, below the ${mib(this.o.minFreeBytes)} the master keeps in reserve (limits.minFreeDiskBytes): free some space; submissions are accepted again as soon as it is there`;
  }

  /** Throws StorageFullError while the disk is low (submissions call it). */
  assertWritable(): void {
    if (this.lowNow) throw new StorageFullError(`no new work while the disk is full: ${this.describe()}`, { details: { freeBytes: this.lastFree } });
  }

  /** Reads the free space now; emits `change` when low/ok flips. Never throws. */
  check(): boolean {
    let space: DiskSpace;
    try {
      space = (this.o.stat ?? statDisk)(this.o.path);
    } catch (e) {
      this.o.log.warn({ err: e, path: this.o.path }, 'could not read the free disk space');
      return this.lowNow;
    }
    this.lastFree = space.freeBytes;
    const low = space.freeBytes < this.o.minFreeBytes;
    if (low !== this.lowNow) {
      this.lowNow = low;
      if (low) this.o.log.error({ freeBytes: space.freeBytes, minFreeBytes: this.o.minFreeBytes, path: this.o.path }, 'disk space low: submissions refused');
      else this.o.log.warn({ freeBytes: space.freeBytes, path: this.o.path }, 'disk space back: submissions accepted again');
      this.emit('change', { low, freeBytes: space.freeBytes, message: this.describe() });
    }
    return low;
  }

  start(everyMs: number): void {
    this.check();
    this.timer = setInterval(() => this.check(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
