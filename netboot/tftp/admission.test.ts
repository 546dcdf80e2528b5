import { describe, expect, it } from 'vitest';
import { decideAdmission, type AdmissionCounts } from './admission.ts';

const limits = { maxTransfers: 10, maxTransfersPerClient: 3 };

describe('decideAdmission', () => {
  it.each<[string, AdmissionCounts, string]>([
    ['idle server', { total: 0, client: 0 }, 'admit'],
    ['room in both', { total: 9, client: 2 }, 'admit'],
    ['total cap reached', { total: 10, client: 0 }, 'busy'],
    ['total cap wins over the client cap', { total: 10, client: 3 }, 'busy'],
    ['client cap reached', { total: 3, client: 3 }, 'client-busy'],
    ['client over its cap', { total: 5, client: 4 }, 'client-busy'],
  ])('%s', (_name, counts, want) => {
    const d = decideAdmission(counts, limits);
    expect(d.kind === 'admit' ? 'admit' : d.reason).toBe(want);
  });
});
