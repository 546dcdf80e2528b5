/**
 * Fault injection by wrapping the socket (STYLE.md): a sender that drops a fraction of
 * outgoing datagrams, decided by a seeded PRNG so a failing run can be replayed.
 */
import type dgram from 'node:dgram';

/** mulberry32: a tiny deterministic PRNG in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LossStats {
  sent: number;
  dropped: number;
}

/** Makes `socket.send` drop `dropRate` of datagrams. Returns the same socket. */
export function makeLossy(socket: dgram.Socket, dropRate: number, random: () => number, stats: LossStats): dgram.Socket {
  const original = socket.send.bind(socket) as (...args: unknown[]) => void;
  (socket as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
    stats.sent++;
    if (random() < dropRate) {
      stats.dropped++;
      const cb = args[args.length - 1];
      if (typeof cb === 'function') process.nextTick(cb as () => void, null);
      return;
    }
    original(...args);
  };
  return socket;
}

/** Makes the socket drop `dropRate` of the datagrams it receives (before 'message' listeners). */
export function makeLossyReceiver(socket: dgram.Socket, dropRate: number, random: () => number, stats: LossStats): dgram.Socket {
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  (socket as unknown as { emit: typeof emit }).emit = (event, ...args) => {
    if (event === 'message') {
      stats.sent++;
      if (random() < dropRate) {
        stats.dropped++;
        return true;
      }
    }
    return emit(event, ...args);
  };
  return socket;
}
