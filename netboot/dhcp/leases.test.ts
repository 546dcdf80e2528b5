import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LeaseFileError } from './errors.ts';
import { JsonFileLeaseStore, MemoryLeaseStore, type Lease, type LeaseStore } from './leases.ts';

const dir = mkdtempSync(join(tmpdir(), 'picluster-leases-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const lease = (ip: string, mac: string, over: Partial<Lease> = {}): Lease => ({ ip, clientKey: `mac:${mac}`, mac, state: 'bound', expiresAt: 1000, ...over });

// One conformance suite for every LeaseStore.
describe.each([
  ['memory', (): LeaseStore => new MemoryLeaseStore()],
  ['json file', (): LeaseStore => new JsonFileLeaseStore(join(dir, `leases-${n++}.json`))],
])('%s lease store', (_name, make) => {
  it('put, find by IP and by client, delete', () => {
    const s = make();
    s.apply([{ op: 'put', lease: lease('10.0.0.5', 'aa:aa:aa:aa:aa:aa') }]);
    expect(s.byIp('10.0.0.5')?.mac).toBe('aa:aa:aa:aa:aa:aa');
    expect(s.byClient('mac:aa:aa:aa:aa:aa:aa')?.ip).toBe('10.0.0.5');
    s.apply([{ op: 'delete', ip: '10.0.0.5' }]);
    expect(s.list()).toEqual([]);
  });
  it('one address per client: a new lease replaces the old one', () => {
    const s = make();
    s.apply([{ op: 'put', lease: lease('10.0.0.5', 'aa:aa:aa:aa:aa:aa') }]);
    s.apply([{ op: 'put', lease: lease('10.0.0.6', 'aa:aa:aa:aa:aa:aa') }]);
    expect(s.list().map((l) => l.ip)).toEqual(['10.0.0.6']);
  });
  it('declined addresses are not a client lease', () => {
    const s = make();
    s.apply([{ op: 'put', lease: lease('10.0.0.7', 'aa:aa:aa:aa:aa:aa', { state: 'declined' }) }]);
    expect(s.byClient('mac:aa:aa:aa:aa:aa:aa')).toBeUndefined();
    expect(s.byIp('10.0.0.7')?.state).toBe('declined');
  });
  it('sweep drops expired leases only', () => {
    const s = make();
    s.apply([
      { op: 'put', lease: lease('10.0.0.5', 'aa:aa:aa:aa:aa:aa', { expiresAt: 100 }) },
      { op: 'put', lease: lease('10.0.0.6', 'bb:bb:bb:bb:bb:bb', { expiresAt: 300 }) },
    ]);
    expect(s.sweep(200)).toBe(1);
    expect(s.list().map((l) => l.ip)).toEqual(['10.0.0.6']);
  });
});

describe('JsonFileLeaseStore', () => {
  it('persists across instances', () => {
    const path = join(dir, 'persist', 'leases.json');
    new JsonFileLeaseStore(path).apply([{ op: 'put', lease: lease('10.0.0.9', 'cc:cc:cc:cc:cc:cc', { hostname: 'n1' }) }]);
    expect(new JsonFileLeaseStore(path).byIp('10.0.0.9')).toEqual(lease('10.0.0.9', 'cc:cc:cc:cc:cc:cc', { hostname: 'n1' }));
    expect(JSON.parse(readFileSync(path, 'utf8')).version).toBe(1);
  });
  it.each([
    ['not JSON', '{'],
    ['no leases list', '{"version":1}'],
    ['a bad lease', '{"version":1,"leases":[{"ip":"10.0.0.1"}]}'],
  ])('a corrupt file (%s) is a LeaseFileError', (_n, text) => {
    const path = join(dir, `bad-${n++}.json`);
    writeFileSync(path, text);
    expect(() => new JsonFileLeaseStore(path)).toThrow(LeaseFileError);
  });
});
