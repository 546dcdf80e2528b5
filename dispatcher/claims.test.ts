import { describe, expect, it } from 'vitest';
import { checkIdentityClaims } from './claims.ts';
import { effectiveSlots } from './domain/nodes.ts';

const owners: Record<string, string> = { 'aa:bb:cc:dd:ee:01': 'n1', '0000abcd': 'n1' };
const ownerOf = (k: { mac?: string; serial?: string }) => owners[k.mac ?? k.serial ?? ''];

describe('checkIdentityClaims', () => {
  it.each([
    ['no claim', 'n1', { mac: 'aa:bb:cc:dd:ee:01' }, {}, true],
    ['the recorded MAC, any spelling', 'n1', { mac: 'aa:bb:cc:dd:ee:01' }, { mac: 'AA-BB-CC-DD-EE-01' }, true],
    ['another MAC than recorded', 'n1', { mac: 'aa:bb:cc:dd:ee:01' }, { mac: 'aa:bb:cc:dd:ee:02' }, false],
    ["another node's MAC", 'n2', undefined, { mac: 'aa:bb:cc:dd:ee:01' }, false],
    ['an unowned MAC for an unsized node', 'n3', undefined, { mac: 'aa:bb:cc:dd:ee:03' }, true],
    ['the recorded serial (16 digits)', 'n1', { serial: '0000abcd' }, { serial: '100000000000abcd' }, true],
    ['another serial than recorded', 'n1', { serial: '0000abcd' }, { serial: 'deadbeef' }, false],
    ["another node's serial", 'n2', {}, { serial: '0000ABCD' }, false],
  ] as const)('%s → ok=%s', (_what, name, record, claim, ok) => {
    expect(checkIdentityClaims(name, record, claim, ownerOf).ok).toBe(ok);
  });
});

describe('effectiveSlots', () => {
  it.each([
    [{ slots: 8, identity: { cpus: 2 } }, 4, 2],
    [{ slots: 2, identity: { cpus: 64 } }, 4, 2],
    [{ slots: 0, identity: { cpus: 4 } }, 4, 0],
    [{ slots: 6 }, 4, 6],
    [{ identity: { cpus: 64 } }, 4, 4],
    [{ identity: { cpus: 64 } }, 16, 16],
    [{ identity: { cpus: 2 } }, 4, 2],
    [{}, 4, 1],
  ])('%j with cap %i → %i', (node, cap, slots) => {
    expect(effectiveSlots(node as never, cap)).toBe(slots);
  });
});
