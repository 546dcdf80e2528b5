/**
 * How clients verify the master over TLS — one place for the agent, the CLI and client/:
 * a CA file (normal chain and host name checks) or a pin, the SHA-256 fingerprint of the
 * server certificate (`sha256:<64 hex>`; colons and case as openssl prints them are accepted).
 * A pin replaces the chain check: the connection is refused unless the certificate the master
 * presents hashes to it, checked after the handshake and before any byte of the request is sent.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { PiclusterError } from './errors.ts';

export class TlsTrustError extends PiclusterError {
  readonly code = 'TLS_TRUST';
}

export class PinMismatchError extends PiclusterError {
  readonly code = 'TLS_PIN_MISMATCH';
}

export interface TlsTrust {
  /** PEM CA certificate(s) to verify the master's chain against. */
  readonly ca?: string;
  /** Normalised pin (`sha256:<hex>`). */
  readonly pin?: string;
}

/** `sha256:AB:CD…`, `AB:CD…`, `abcd…` → `sha256:abcd…`; anything else throws naming `what`. */
export function normalizePin(text: string, what = 'pin'): string {
  const hex = text
    .trim()
    .replace(/^sha256[:/]/i, '')
    .replace(/:/g, '')
    .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TlsTrustError(`${what} must be a SHA-256 fingerprint (sha256:<64 hex digits>), got ${JSON.stringify(text)}`);
  return `sha256:${hex}`;
}

/** The pin of a DER certificate. */
export const pinOf = (der: Uint8Array): string => `sha256:${createHash('sha256').update(der).digest('hex')}`;

/** Builds the trust from `--ca FILE` / `--pin P` (either, both, or neither = system CAs). */
export function loadTrust(o: { caFile?: string | undefined; pin?: string | undefined }, names = { ca: '--ca', pin: '--pin' }): TlsTrust | undefined {
  let ca: string | undefined;
  if (o.caFile) {
    try {
      ca = readFileSync(o.caFile, 'utf8');
    } catch (e) {
      throw new TlsTrustError(`${names.ca} ${o.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new TlsTrustError(`${names.ca} ${o.caFile} holds no PEM certificate`);
  }
  const pin = o.pin ? normalizePin(o.pin, names.pin) : undefined;
  if (!ca && !pin) return undefined;
  return { ...(ca ? { ca } : {}), ...(pin ? { pin } : {}) };
}

/** Checks a connected socket's certificate against the pin; the error names both fingerprints. */
export function checkPin(socket: TLSSocket, pin: string): PinMismatchError | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert?.raw) return new PinMismatchError(`certificate pin mismatch: expected ${pin}, got no certificate`);
  const got = pinOf(cert.raw);
  return got === pin ? undefined : new PinMismatchError(`certificate pin mismatch: expected ${pin}, got ${got}`);
}

type ConnectCallback = (err: Error | null, socket?: Socket) => void;

/**
 * A `createConnection(options, callback)` for node:http(s)/ws requests: a TLS connection that
 * is handed to the request only once it is trusted. With a pin the chain is not checked (a
 * self-signed master), the fingerprint is; with a CA the normal checks run against it.
 */
export function trustedConnect(trust: TlsTrust): (options: ConnectionOptions, cb: ConnectCallback) => undefined {
  return (options, cb) => {
    const socket = tlsConnect({
      ...options,
      ...(trust.ca ? { ca: trust.ca } : {}),
      ...(trust.pin ? { rejectUnauthorized: false } : {}),
      ...(options.servername === undefined && options.host && !/^[\d.:]+$/.test(options.host) ? { servername: options.host } : {}),
    });
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      if (err) {
        socket.destroy();
        cb(err);
      } else cb(null, socket);
    };
    socket.once('secureConnect', () => finish(trust.pin ? (checkPin(socket, trust.pin) ?? null) : null));
    socket.once('error', (e) => finish(e));
    socket.once('close', () =>
      finish(new TlsTrustError(`the TLS connection to ${options.host ?? 'the master'}:${options.port ?? ''} closed during the handshake`)),
    );
    return undefined;
  };
}
