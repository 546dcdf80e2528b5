/**
 * A node token speaks for one node, within what the inventory says of it: an agent's hello may
 * *narrow* (fewer slots, via its CPU count — domain/nodes.ts `effectiveSlots`) but never *assert*
 * identity. MAC and serial come from the inventory, enrollment approval or an admin; the claims in
 * a hello are only checked against them. Pure: the caller refuses the hello and raises the alert.
 */
import { normalizeMac, normalizeSerial } from '../common/mac.ts';
import type { NodeRecord } from './domain/nodes.ts';

export type ClaimCheck = { ok: true } | { ok: false; field: 'mac' | 'serial'; claimed: string; message: string };

/**
 * `record`: what the master knows of the node (undefined: a new node); `ownerOf`: which node the
 * inventory/admin gave this MAC or serial to, if any.
 */
export function checkIdentityClaims(
  name: string,
  record: Pick<NodeRecord, 'mac' | 'serial'> | undefined,
  claim: { mac?: string; serial?: string },
  ownerOf: (key: { mac?: string; serial?: string }) => string | undefined,
): ClaimCheck {
  const checks = [
    ['mac', claim.mac, record?.mac, claim.mac === undefined ? undefined : (normalizeMac(claim.mac) ?? claim.mac.toLowerCase())],
    ['serial', claim.serial, record?.serial, claim.serial === undefined ? undefined : (normalizeSerial(claim.serial) ?? claim.serial.toLowerCase())],
  ] as const;
  for (const [field, raw, known, claimed] of checks) {
    if (raw === undefined || claimed === undefined || claimed === '') continue;
    if (known !== undefined && known !== claimed)
      return { ok: false, field, claimed, message: `node '${name}' claims ${field} ${claimed}, but it is recorded as ${known}` };
    const owner = ownerOf(field === 'mac' ? { mac: claimed } : { serial: claimed });
    if (owner !== undefined && owner !== name)
      return { ok: false, field, claimed, message: `node '${name}' claims ${field} ${claimed}, which belongs to node '${owner}'` };
  }
  return { ok: true };
}
