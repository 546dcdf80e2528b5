/**
 * Self-signed CA and server certificate for a home lab (`picluster tls init`), made with
 * node:crypto only: ECDSA P-256 keys, X.509 v3 (RFC 5280) encoded by common/der.ts and signed
 * ecdsa-with-SHA256. No openssl at runtime.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, bool, context, integer, namedBits, octetString, oid, sequence, set, time, utf8String } from './der.ts';

const ECDSA_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const CN = '2.5.4.3';
const O = '2.5.4.10';

export interface IssuedCertificate {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM PKCS#8 private key. */
  readonly key: string;
  readonly der: Buffer;
}

export interface ServerCertOptions {
  /** DNS names for subjectAltName (the first is also the CN). */
  readonly names: readonly string[];
  /** IPv4/IPv6 addresses for subjectAltName. */
  readonly ips: readonly string[];
  readonly days?: number;
  readonly now?: Date;
}

const pem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END ${label}-----\n`;

const name = (cn: string): Buffer => sequence(set(sequence(oid(O), utf8String('picluster'))), set(sequence(oid(CN), utf8String(cn))));

const extension = (id: string, critical: boolean, value: Buffer): Buffer => sequence(oid(id), ...(critical ? [bool(true)] : []), octetString(value));

/** SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
function keyId(spki: Buffer): Buffer {
  // SPKI = SEQUENCE { AlgorithmIdentifier, BIT STRING }: for P-256 the key is the last 65 bytes.
  return createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
}

function serial(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40; // positive, 16 significant bytes
  return b;
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  if (isIP(ip) !== 6) throw new RangeError(`not an IP address: ${ip}`);
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

function issue(o: {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  issuerSpki: Buffer;
  days: number;
  now: Date;
  extensions: Buffer[];
}): Buffer {
  const spki = o.publicKey.export({ type: 'spki', format: 'der' });
  const notBefore = new Date(o.now.getTime() - 3_600_000); // an hour back: clocks of a home lab drift
  const notAfter = new Date(o.now.getTime() + o.days * 86_400_000);
  const tbs = sequence(
    context(0, integer(2), true),
    integer(serial()),
    ECDSA_SHA256,
    name(o.issuer),
    sequence(time(notBefore), time(notAfter)),
    name(o.subject),
    spki,
    context(
      3,
      sequence(
        ...o.extensions,
        extension('2.5.29.14', false, octetString(keyId(spki))),
        extension('2.5.29.35', false, sequence(context(0, keyId(o.issuerSpki), false))),
      ),
      true,
    ),
  );
  const signature = sign('sha256', tbs, { key: o.signingKey, dsaEncoding: 'der' });
  return sequence(tbs, ECDSA_SHA256, bitString(signature));
}

export interface CertificateAuthority extends IssuedCertificate {
  readonly privateKey: KeyObject;
  readonly spki: Buffer;
  readonly subject: string;
}

export function createCa(o: { name?: string; days?: number; now?: Date } = {}): CertificateAuthority {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = o.name ?? 'picluster home-lab CA';
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const der = issue({
    subject,
    issuer: subject,
    publicKey,
    signingKey: privateKey,
    issuerSpki: spki,
    days: o.days ?? 3650,
    now: o.now ?? new Date(),
    extensions: [
      extension('2.5.29.19', true, sequence(bool(true), integer(0))), // basicConstraints: CA, pathLen 0
      extension('2.5.29.15', true, namedBits([5, 6])), // keyCertSign, cRLSign
    ],
  });
  return { cert: pem('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, der, privateKey, spki, subject };
}

export function createServerCert(ca: CertificateAuthority, o: ServerCertOptions): IssuedCertificate {
  if (o.names.length === 0 && o.ips.length === 0) throw new RangeError('a server certificate needs at least one name or IP address');
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const san = sequence(...o.names.map((n) => context(2, Buffer.from(n, 'ascii'), false)), ...o.ips.map((ip) => context(7, ipBytes(ip), false)));
  const der = issue({
    subject: o.names[0] ?? o.ips[0]!,
    issuer: ca.subject,
    publicKey,
    signingKey: ca.privateKey,
    issuerSpki: ca.spki,
    days: o.days ?? 825,
    now: o.now ?? new Date(),
    extensions: [
      extension('2.5.29.19', true, sequence()), // basicConstraints: not a CA
      extension('2.5.29.15', true, namedBits([0])), // digitalSignature (ECDHE_ECDSA)
      extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))), // serverAuth
      extension('2.5.29.17', false, san),
    ],
  });
  return { cert: pem('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, der };
}

/** Parses back with node's X.509 parser (a self-check of the encoder). */
export const parseCert = (pemText: string): X509Certificate => new X509Certificate(pemText);
