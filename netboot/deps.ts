import type { Registry } from 'prom-client';
import type { Logger } from '../common/logger.ts';
import type { Clock } from '../common/clock.ts';
import type { BootEventSink } from './boot-event.ts';
import type { NodeDirectory } from './node-directory.ts';

/** Everything a netboot server needs from outside, injected (tests pass fakes). */
export interface NetbootDeps {
  readonly log: Logger;
  readonly clock: Clock;
  readonly directory: NodeDirectory;
  readonly sink: BootEventSink;
  /** Counters are registered here (the master's registry, or a fresh one in tests). */
  readonly registry: Registry;
}

/** A started server: its bound addresses and how to stop it. */
export interface RunningServer {
  /** e.g. `{ dhcp: 6767 }` or `{ tftp: 6969 }`: the ports actually bound (tests bind 0). */
  readonly ports: Readonly<Record<string, number>>;
  close(): Promise<void>;
}
