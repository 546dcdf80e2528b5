/**
 * A small TFTP read client for tests: lock-step or windowed (RFC 7440 receiver rules:
 * ACK the last in-order block at the end of a window, on the final block, or once when a
 * gap is seen; re-ACK on its own timeout). Used to drive the server where the real
 * clients cannot be steered (loss injection, probes, exact option sets).
 */
import dgram from 'node:dgram';
import { decodePacket, encodePacket, type TftpOption } from '../codec.ts';

export interface GetOptions {
  readonly port: number;
  readonly host?: string;
  readonly file: string;
  readonly mode?: 'octet' | 'netascii';
  readonly options?: readonly TftpOption[];
  /** Client retransmit timer (RRQ / last ACK). */
  readonly timeoutMs?: number;
  readonly maxRetries?: number;
  /** Send ERROR 0 "Early terminate" after the first DATA block (a Pi probe). */
  readonly probe?: boolean;
  /** Wrap the client socket (a lossy sender). */
  readonly wrap?: (s: dgram.Socket) => dgram.Socket;
  /** After completion keep answering retransmitted final blocks until this settles. */
  readonly dallyUntil?: Promise<unknown>;
  /** Local address to send from (the boot-storm bench gives every simulated Pi its own). */
  readonly bindAddress?: string;
  /** Keep no data (the bench fetches gigabytes); `data` is then empty, `bytes` counts. */
  readonly discard?: boolean;
}

export interface GetResult {
  readonly data: Buffer;
  readonly oack: readonly TftpOption[] | undefined;
  readonly error: { code: number; message: string } | undefined;
  /** DATA datagrams received (duplicates included). */
  readonly dataPackets: number;
  readonly serverPort: number | undefined;
  /** Payload bytes received in order. */
  readonly bytes: number;
  /** Datagrams this client resent (RRQ or ACK) on its own timeout. */
  readonly retransmits: number;
}

export function tftpGet(o: GetOptions): Promise<GetResult> {
  const host = o.host ?? '127.0.0.1';
  const timeoutMs = o.timeoutMs ?? 200;
  const maxRetries = o.maxRetries ?? 20;
  const raw = dgram.createSocket('udp4');
  const socket = o.wrap ? o.wrap(raw) : raw;
  const chunks: Buffer[] = [];
  let blksize = 512;
  let windowsize = 1;
  let expected = 1; // absolute next block
  let inWindow = 0;
  let lastAckSent = -1;
  let oack: TftpOption[] | undefined;
  let serverPort: number | undefined;
  let dataPackets = 0;
  let retries = 0;
  let retransmits = 0;
  let bytes = 0;
  let done = false;
  let inflight = 0;
  let closeWhenIdle = false;
  const out = (buf: Buffer, port: number): void => {
    inflight++;
    socket.send(buf, port, host, () => {
      if (--inflight === 0 && closeWhenIdle) socket.close();
    });
  };
  const rrq = encodePacket({ op: 'rrq', filename: o.file, mode: o.mode ?? 'octet', options: o.options ?? [] });

  return new Promise<GetResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: { code: number; message: string }): void => {
      if (done) return;
      done = true;
      const result: GetResult = { data: Buffer.concat(chunks), oack, error, dataPackets, serverPort, bytes, retransmits };
      // Close once the last datagram (final ACK or ERROR) has left: send() is asynchronous.
      const close = (): void => {
        clearTimeout(timer);
        if (inflight === 0) socket.close();
        else closeWhenIdle = true;
      };
      if (o.dallyUntil && !error) {
        clearTimeout(timer);
        o.dallyUntil.finally(close).catch(() => undefined);
      } else close();
      resolve(result);
    };
    const ack = (abs: number): void => {
      lastAckSent = abs;
      out(encodePacket({ op: 'ack', block: abs & 0xffff }), serverPort!);
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (done) return;
        if (++retries > maxRetries) {
          socket.close();
          done = true;
          reject(new Error(`tftp client: gave up on ${o.file} at block ${expected}`));
          return;
        }
        retransmits++;
        if (serverPort === undefined) out(rrq, o.port);
        else ack(expected - 1);
        arm();
      }, timeoutMs);
    };
    socket.on('error', (e) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(e);
      }
    });
    socket.on('message', (msg, rinfo) => {
      if (serverPort === undefined) serverPort = rinfo.port;
      else if (rinfo.port !== serverPort) return;
      let p;
      try {
        p = decodePacket(msg);
      } catch {
        return;
      }
      if (done) {
        // Dallying: the final ACK may have been lost.
        if (p.op === 'data') ack(expected - 1);
        return;
      }
      if (p.op === 'error') return finish({ code: p.code, message: p.message });
      if (p.op === 'oack') {
        if (expected !== 1 || oack) {
          if (expected === 1) ack(0); // our ACK 0 was lost
          return;
        }
        oack = [...p.options];
        for (const { name, value } of p.options) {
          if (name === 'blksize') blksize = Number(value);
          if (name === 'windowsize') windowsize = Number(value);
        }
        retries = 0;
        ack(0);
        arm();
        return;
      }
      if (p.op !== 'data') return;
      dataPackets++;
      if (p.block !== (expected & 0xffff)) {
        // Gap or duplicate: ACK the last in-order block once (RFC 7440 §4).
        if (lastAckSent !== expected - 1) ack(expected - 1);
        inWindow = 0;
        return;
      }
      if (o.probe) {
        out(encodePacket({ op: 'error', code: 0, message: 'Early terminate' }), serverPort);
        chunks.push(Buffer.from(p.data));
        return finish();
      }
      if (!o.discard) chunks.push(Buffer.from(p.data));
      bytes += p.data.length;
      expected++;
      inWindow++;
      retries = 0;
      const last = p.data.length < blksize;
      if (last || inWindow >= windowsize) {
        inWindow = 0;
        ack(expected - 1);
      }
      if (last) return finish();
      arm();
    });
    const go = (): void => {
      out(rrq, o.port);
      arm();
    };
    if (o.bindAddress) socket.bind(0, o.bindAddress, go);
    else go();
  });
}
