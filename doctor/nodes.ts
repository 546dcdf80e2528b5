/**
 * `picluster doctor --nodes` (the seed's healthcheck): for every node, is its agent connected,
 * how old is its last heartbeat, is it throttled or under-voltage now. Pure over the node list
 * `GET /api/nodes` returns.
 */
import type { CheckRow } from './network/checks.ts';

export interface NodeHealthInput {
  readonly name: string;
  readonly state: string;
  readonly connected: boolean;
  readonly lastSeenAt?: number;
  readonly health?: { readonly throttled?: number; readonly temperatureC?: number };
}

/** get_throttled bits now: 0 under-voltage, 1 ARM frequency capped, 2 throttled, 3 soft temperature limit. */
export function throttledNow(bits: number | undefined): string[] {
  if (!bits) return [];
  const names = ['under-voltage', 'frequency capped', 'throttled', 'soft temperature limit'];
  return names.filter((_, i) => bits & (1 << i));
}

const IDLE_STATES = new Set(['maintenance', 'drained', 'pending-approval', 'offline']);

export function checkNodes(nodes: readonly NodeHealthInput[], now: number, heartbeatMs: number): CheckRow[] {
  if (!nodes.length)
    return [{ name: 'nodes', status: 'warn', detail: 'the master knows no node', fix: 'Add nodes to the inventory, or start agents (`picluster agent`).' }];
  return nodes.map((n) => {
    const name = `node ${n.name}`;
    const age = n.lastSeenAt === undefined ? undefined : now - n.lastSeenAt;
    const ageText = age === undefined ? 'never seen' : `heartbeat ${(age / 1000).toFixed(1)} s ago`;
    if (!n.connected) {
      return IDLE_STATES.has(n.state)
        ? {
            name,
            status: 'warn',
            detail: `${n.state}, agent not connected (${ageText})`,
            fix: `Expected while ${n.state}; \`picluster doctor ${n.name}\` tells why a node does not boot.`,
          }
        : {
            name,
            status: 'fail',
            detail: `${n.state}, agent not connected (${ageText})`,
            fix: `\`picluster doctor ${n.name}\` reads its boot timeline and names the failure.`,
          };
    }
    const flags = throttledNow(n.health?.throttled);
    const temp = n.health?.temperatureC !== undefined ? `, ${n.health.temperatureC.toFixed(0)} °C` : '';
    if (age !== undefined && age > 3 * heartbeatMs) {
      return {
        name,
        status: 'warn',
        detail: `${n.state}, ${ageText} (expected every ${heartbeatMs / 1000} s)`,
        fix: 'The link is slow or the node is overloaded; it is declared lost after missedHeartbeats intervals.',
      };
    }
    if (flags.length) {
      return {
        name,
        status: 'warn',
        detail: `${n.state}, ${ageText}${temp}, ${flags.join(', ')}`,
        fix: flags.includes('under-voltage')
          ? 'Under-voltage: use a 5.1 V/3 A supply (Pi 4) or 5 A (Pi 5), short cables; PoE HATs need 802.3at on a Pi 4.'
          : 'Cool it: a heatsink or fan; the scheduler derates hot nodes.',
      };
    }
    return { name, status: 'pass', detail: `${n.state}, ${ageText}${temp}` };
  });
}
