import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Per-node agent tokens are derived from the cluster secret: HMAC-SHA256(secret, "node:" + name),
 * base64url, so the master stores no per-node secret and a token speaks only for its node.
 * They travel in the node's kernel cmdline over TFTP: a LAN-trust model (docs/security.md).
 */
export function deriveNodeToken(clusterSecret: string, nodeName: string): string {
  return createHmac('sha256', clusterSecret).update(`node:${nodeName}`).digest('base64url');
}

export function verifyNodeToken(clusterSecret: string, nodeName: string, token: string): boolean {
  const expected = Buffer.from(deriveNodeToken(clusterSecret, nodeName));
  const given = Buffer.from(token);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
