/**
 * Messages between the TFTP server (main thread) and its transfer workers, declared once.
 * File bytes travel as a view of a SharedArrayBuffer (the virtual root's cache): shared,
 * never copied.
 */
import type { SessionEnd } from './session.ts';

export interface WorkerStart {
  readonly type: 'start';
  readonly id: number;
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly length: number;
  readonly blksize: number;
  readonly windowsize: number;
  readonly oack: Uint8Array | undefined;
  readonly maxRetries: number;
  readonly maxRetriesBeforeAck: number;
  readonly retransmitMs: number;
  readonly bindAddress: string;
  readonly clientAddress: string;
  readonly clientPort: number;
}

export interface WorkerAbort {
  readonly type: 'abort';
  readonly id: number;
  readonly reason: string;
}

export type ToWorker = WorkerStart | WorkerAbort;

export type FromWorker =
  /** Posted once the worker has loaded. */
  | { readonly type: 'ready' }
  | { readonly type: 'end'; readonly id: number; readonly end: SessionEnd }
  | { readonly type: 'ignored'; readonly reason: string }
  | { readonly type: 'fault'; readonly id: number; readonly message: string };
