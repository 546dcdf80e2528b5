import { describe, expect, it } from 'vitest';
import type { BootEvent } from '../../netboot/boot-event.ts';
import { IpJoin } from './ip-join.ts';

const ev = (over: Partial<BootEvent>): BootEvent => ({ kind: 'http-fetch', at: 1000, outcome: 'complete', ...over });

describe('IpJoin', () => {
  it("joins an IP-only fetch to the MAC the client's DHCP REQUEST named for that IP", () => {
    const j = new IpJoin();
    j.join(ev({ kind: 'dhcp-ignored', outcome: 'ignored', mac: '52:54:00:00:00:01', ip: '10.213.40.101', node: 'x86' }));
    const fetched = j.join(ev({ ip: '10.213.40.101', detail: { file: 'amd64/vmlinuz' } }));
    expect(fetched).toMatchObject({ mac: '52:54:00:00:00:01', node: 'x86', ip: '10.213.40.101' });
  });

  it('keeps a Pi serial, and the last identity seen for an IP wins', () => {
    const j = new IpJoin();
    j.join(ev({ kind: 'tftp-transfer', serial: '89eb9bb9', ip: '10.0.0.5', at: 1 }));
    expect(j.join(ev({ kind: 'tftp-transfer', ip: '10.0.0.5', at: 2 }))).toMatchObject({ serial: '89eb9bb9' });
    j.join(ev({ kind: 'tftp-transfer', mac: 'aa:bb:cc:dd:ee:ff', ip: '10.0.0.5', at: 3 }));
    const joined = j.join(ev({ ip: '10.0.0.5', at: 4 }));
    expect(joined.mac).toBe('aa:bb:cc:dd:ee:ff');
    expect(joined.serial).toBeUndefined();
  });

  it.each([
    ['an unknown IP', ev({ ip: '10.0.0.9' })],
    ['no IP', ev({})],
    ['an event that names its own MAC', ev({ ip: '10.0.0.5', mac: '52:54:00:00:00:09' })],
  ])('leaves %s alone', (_what, e) => {
    const j = new IpJoin();
    j.join(ev({ mac: 'aa:bb:cc:dd:ee:ff', ip: '10.0.0.5' }));
    expect(j.join(e)).toEqual(e);
  });

  it('forgets entries older than maxAgeMs and beyond maxEntries (oldest first)', () => {
    const j = new IpJoin({ maxEntries: 2, maxAgeMs: 100 });
    j.join(ev({ mac: '00:00:00:00:00:01', ip: '10.0.0.1', at: 0 }));
    expect(j.join(ev({ ip: '10.0.0.1', at: 101 })).mac).toBeUndefined();
    j.join(ev({ mac: '00:00:00:00:00:02', ip: '10.0.0.2', at: 200 }));
    j.join(ev({ mac: '00:00:00:00:00:03', ip: '10.0.0.3', at: 200 }));
    expect(j.join(ev({ ip: '10.0.0.1', at: 200 })).mac).toBeUndefined();
    expect(j.join(ev({ ip: '10.0.0.2', at: 200 })).mac).toBe('00:00:00:00:00:02');
    expect(j.join(ev({ ip: '10.0.0.3', at: 200 })).mac).toBe('00:00:00:00:00:03');
  });

  it('never learns from 0.0.0.0', () => {
    const j = new IpJoin();
    j.join(ev({ mac: '00:00:00:00:00:01', ip: '0.0.0.0' }));
    expect(j.join(ev({ ip: '0.0.0.0' })).mac).toBeUndefined();
  });
});
