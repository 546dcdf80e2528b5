/**
 * The fuzzer's hang detector. The live master runs in the fuzzer's own thread, so an input that
 * blocks its event loop (a spin — as an upload once did) would stop every timer with it and the
 * run would simply never end. A worker thread watches a beat the main thread writes every 250 ms
 * and, when it is older than `stallMs`, prints the surface and the last input in flight and kills
 * the process (SIGKILL: exit status 137).
 */
import { Worker } from 'node:worker_threads';

export interface Watchdog {
  /** What is being fed now (shown if the loop blocks); cheap enough to call per input. */
  note(text: string): void;
  stop(): void;
}

const NOTE_BYTES = 2048;

const WORKER = `
const { workerData } = require('node:worker_threads');
const beat = new Float64Array(workerData.beat);
const noteLen = new Int32Array(workerData.noteLen);
const note = new Uint8Array(workerData.note);
setInterval(() => {
  const age = Date.now() - beat[0];
  if (age < workerData.stallMs) return;
  const text = Buffer.from(note.subarray(0, Atomics.load(noteLen, 0))).toString();
  // Synchronously to fd 2 (a worker's process.stderr goes through the blocked main thread), and
  // a signal to the whole process (process.exit here would end only this worker).
  require('node:fs').writeSync(2, '\\nfuzz: HANG — the event loop has been blocked for ' + age + ' ms; most recent input sent (several may be in flight): ' + text + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 500);
`;

export function startWatchdog(stallMs = 30_000): Watchdog {
  const beat = new SharedArrayBuffer(8);
  const noteLen = new SharedArrayBuffer(4);
  const note = new SharedArrayBuffer(NOTE_BYTES);
  const beatView = new Float64Array(beat);
  const lenView = new Int32Array(noteLen);
  const noteView = new Uint8Array(note);
  beatView[0] = Date.now();
  const timer = setInterval(() => (beatView[0] = Date.now()), 250);
  const worker = new Worker(WORKER, { eval: true, workerData: { beat, noteLen, note, stallMs } });
  worker.unref();
  return {
    note(text) {
      const { written } = new TextEncoder().encodeInto(text, noteView);
      Atomics.store(lenView, 0, written);
    },
    stop() {
      clearInterval(timer);
      void worker.terminate();
    },
  };
}
