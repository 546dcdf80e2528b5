import { beforeEach, describe, expect, it } from 'vitest';
import type { DhcpMessage } from './codec.ts';
import { decideReply, type Decision } from './decide.ts';
import { MemoryLeaseStore } from './leases.ts';
import { getOption, messageTypeName, Opt } from './options.ts';
import { context, FakeDirectory, pxeRequest, request, SERVER } from './testing.ts';

const T0 = 1_700_000_000_000;
const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';

/** A full-mode server's state over a sequence of requests: leases applied as the server does. */
class Harness {
  store = new MemoryLeaseStore();
  now = T0;
  directory = new FakeDirectory();
  dhcp = {
    full: {
      rangeStart: '10.213.0.100',
      rangeEnd: '10.213.0.102',
      leaseTimeSec: 600,
      offerHoldMs: 30_000,
      declineHoldMs: 120_000,
      router: '10.213.0.1',
      dnsServers: ['10.213.0.1'],
    },
  };

  send(req: DhcpMessage, over: Parameters<typeof context>[0] = {}): Decision {
    const d = decideReply(req, context({ mode: 'full', leases: this.store, now: this.now, directory: this.directory, dhcp: this.dhcp, ...over }));
    if (d.kind !== 'ignore' || d.leaseOps) this.store.apply(d.leaseOps ?? []);
    return d;
  }

  /** DISCOVER + REQUEST(selecting) → the bound address. */
  lease(mac: string): string {
    const offer = replyOf(this.send(request({ mac })));
    const ack = replyOf(this.send(request({ mac, type: 'REQUEST', serverId: SERVER, requestedIp: offer.yiaddr })));
    expect(typeOf(ack)).toBe('ACK');
    return ack.yiaddr;
  }
}

function replyOf(d: Decision): DhcpMessage {
  if (d.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify({ kind: d.kind, reason: 'reason' in d ? d.reason : undefined })}`);
  return d.message;
}

function typeOf(m: DhcpMessage): string | undefined {
  return messageTypeName(getOption(m, Opt.MessageType)?.[0]);
}

describe('full mode', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness();
  });

  it('DISCOVER → OFFER from the range with lease time, T1, T2, mask, router, DNS; held as offered', () => {
    const d = h.send(request({ mac: A }));
    const m = replyOf(d);
    expect(typeOf(m)).toBe('OFFER');
    expect(m.yiaddr).toBe('10.213.0.100');
    expect(m.options.map((o) => o.code)).toEqual([53, 54, 51, 58, 59, 1, 3, 6]);
    expect(getOption(m, Opt.LeaseTime)?.readUInt32BE(0)).toBe(600);
    expect(getOption(m, Opt.RenewalTime)?.readUInt32BE(0)).toBe(300);
    expect(getOption(m, Opt.RebindingTime)?.readUInt32BE(0)).toBe(525);
    expect(h.store.byIp('10.213.0.100')).toMatchObject({ state: 'offered', mac: A, expiresAt: T0 + 30_000 });
    expect(d.kind === 'reply' && d.to).toEqual({ address: '255.255.255.255', port: 68 });
  });

  it('REQUEST (selecting) for the offered address → ACK, bound for the lease time', () => {
    expect(h.lease(A)).toBe('10.213.0.100');
    expect(h.store.byIp('10.213.0.100')).toMatchObject({ state: 'bound', expiresAt: T0 + 600_000 });
  });

  it('two clients get different addresses; a third exhausts a 3-address pool, the fourth is ignored', () => {
    expect(h.lease(A)).toBe('10.213.0.100');
    expect(h.lease(B)).toBe('10.213.0.101');
    expect(h.lease('52:54:00:00:00:0c')).toBe('10.213.0.102');
    expect(h.send(request({ mac: '52:54:00:00:00:0d' }))).toMatchObject({ kind: 'ignore', reason: 'pool-exhausted' });
  });

  it('a returning client gets its previous address', () => {
    h.lease(A);
    h.lease(B);
    expect(replyOf(h.send(request({ mac: A }))).yiaddr).toBe('10.213.0.100');
  });

  it('REQUEST for another server is ignored and our offer is withdrawn (RFC 2131 §4.3.2)', () => {
    h.send(request({ mac: A }));
    const d = h.send(request({ mac: A, type: 'REQUEST', serverId: '10.213.0.254', requestedIp: '10.213.0.77' }));
    expect(d).toMatchObject({ kind: 'ignore', reason: 'request-for-other-server' });
    expect(h.store.byIp('10.213.0.100')).toBeUndefined();
  });

  it('REQUEST (selecting) for an address we did not offer → NAK, broadcast', () => {
    h.send(request({ mac: A }));
    const d = h.send(request({ mac: A, type: 'REQUEST', serverId: SERVER, requestedIp: '10.213.0.101' }));
    expect(typeOf(replyOf(d))).toBe('NAK');
    expect(d.kind === 'reply' && d.to.address).toBe('255.255.255.255');
    expect(replyOf(d).yiaddr).toBe('0.0.0.0');
  });

  describe('INIT-REBOOT (option 50, no server id, ciaddr 0)', () => {
    it.each([
      ['off our subnet → NAK', '192.168.1.5', true, 'NAK'],
      ['a different address than its lease → NAK', '10.213.0.101', true, 'NAK'],
      ['its own address → ACK', '10.213.0.100', true, 'ACK'],
      ['no record → silent', '10.213.0.100', false, undefined],
    ] as const)('%s', (_n, ip, leased, want) => {
      if (leased) h.lease(A);
      const d = h.send(request({ mac: A, type: 'REQUEST', requestedIp: ip }));
      if (want === undefined) expect(d).toMatchObject({ kind: 'ignore', reason: 'no-lease' });
      else expect(typeOf(replyOf(d))).toBe(want);
    });
  });

  describe('RENEWING / REBINDING (ciaddr set)', () => {
    it('its own address → ACK, unicast to ciaddr, lease extended', () => {
      h.lease(A);
      h.now += 400_000;
      const d = h.send(request({ mac: A, type: 'REQUEST', ciaddr: '10.213.0.100' }));
      expect(typeOf(replyOf(d))).toBe('ACK');
      expect(d.kind === 'reply' && d.to).toEqual({ address: '10.213.0.100', port: 68 });
      expect(h.store.byIp('10.213.0.100')?.expiresAt).toBe(h.now + 600_000);
    });
    it('an address bound to another client → NAK', () => {
      h.lease(A);
      expect(typeOf(replyOf(h.send(request({ mac: B, type: 'REQUEST', ciaddr: '10.213.0.100' }))))).toBe('NAK');
    });
    it('off our subnet → NAK', () => {
      expect(typeOf(replyOf(h.send(request({ mac: A, type: 'REQUEST', ciaddr: '172.16.0.9' }))))).toBe('NAK');
    });
    it('unknown lease on our subnet → silent', () => {
      expect(h.send(request({ mac: A, type: 'REQUEST', ciaddr: '10.213.0.150' }))).toMatchObject({ kind: 'ignore', reason: 'no-lease' });
    });
  });

  it('reservations from the directory win, even outside the range', () => {
    h.directory.nodes.push({ name: 'n1', mac: A, ipv4: '10.213.0.20', approved: true });
    expect(h.lease(A)).toBe('10.213.0.20');
    // INIT-REBOOT for another address → NAK so the node moves to its reservation
    expect(typeOf(replyOf(h.send(request({ mac: A, type: 'REQUEST', requestedIp: '10.213.0.100' }))))).toBe('NAK');
  });

  it('expiry: an expired lease is given to someone else (injected clock)', () => {
    h.lease(A);
    h.lease(B);
    h.lease('52:54:00:00:00:0c');
    h.now += 600_001;
    expect(replyOf(h.send(request({ mac: '52:54:00:00:00:0d' }))).yiaddr).toBe('10.213.0.100');
  });

  it('an unanswered offer is free again after offerHoldMs', () => {
    h.send(request({ mac: A }));
    expect(replyOf(h.send(request({ mac: B }))).yiaddr).toBe('10.213.0.101');
    h.now += 30_001;
    expect(replyOf(h.send(request({ mac: '52:54:00:00:00:0c' }))).yiaddr).toBe('10.213.0.100');
  });

  it('DECLINE keeps the address out of the pool for declineHoldMs', () => {
    const ip = h.lease(A);
    const d = h.send(request({ mac: A, type: 'DECLINE', serverId: SERVER, requestedIp: ip }));
    expect(d).toMatchObject({ kind: 'record', event: { outcome: 'declined', ip } });
    expect(replyOf(h.send(request({ mac: A }))).yiaddr).toBe('10.213.0.101');
    h.now += 120_001;
    expect(replyOf(h.send(request({ mac: B }))).yiaddr).toBe('10.213.0.100');
  });

  it('DECLINE for another server is ignored', () => {
    h.lease(A);
    expect(h.send(request({ mac: A, type: 'DECLINE', serverId: '10.213.0.9', requestedIp: '10.213.0.100' }))).toMatchObject({
      kind: 'ignore',
      reason: 'decline-for-other-server',
    });
  });

  it('RELEASE frees the lease', () => {
    const ip = h.lease(A);
    expect(h.send(request({ mac: A, type: 'RELEASE', serverId: SERVER, ciaddr: ip }))).toMatchObject({ kind: 'record', event: { outcome: 'released' } });
    expect(h.store.byIp(ip)).toBeUndefined();
  });

  it('INFORM → ACK with configuration, no address, no lease time, to ciaddr', () => {
    const d = h.send(request({ mac: A, type: 'INFORM', ciaddr: '10.213.0.30' }));
    const m = replyOf(d);
    expect(typeOf(m)).toBe('ACK');
    expect(m.yiaddr).toBe('0.0.0.0');
    expect(getOption(m, Opt.LeaseTime)).toBeUndefined();
    expect(getOption(m, Opt.Router)?.toString('hex')).toBe('0ad50001');
    expect(d.kind === 'reply' && d.to).toEqual({ address: '10.213.0.30', port: 68 });
  });

  it('the client is identified by option 61 when present (RFC 2131 §4.2)', () => {
    const id = Buffer.from('01aabbccddeeff', 'hex');
    const offer = replyOf(h.send(request({ mac: A, clientId: id })));
    // same client id from another NIC: same client, same address
    expect(typeOf(replyOf(h.send(request({ mac: B, clientId: id, type: 'REQUEST', serverId: SERVER, requestedIp: offer.yiaddr }))))).toBe('ACK');
  });

  it('a PXE client gets an address and the PXE options; a Pi gets the Pi menu', () => {
    const m = replyOf(h.send(pxeRequest({ mac: 'dc:a6:32:00:00:01', guid: Buffer.alloc(17, 0x44).fill(0, 0, 1) })));
    expect(m.yiaddr).toBe('10.213.0.100');
    expect(m.options.map((o) => o.code)).toEqual([53, 54, 51, 58, 59, 1, 3, 6, 60, 97, 43]);
    const x86 = replyOf(h.send(pxeRequest({ mac: A, arch: 7 })));
    expect(x86.file).toBe('ipxe.efi');
    expect(x86.siaddr).toBe(SERVER);
  });

  it('a Pi 3 boot ROM never REQUESTs: its OFFER binds the address for a full lease', () => {
    const pi3 = replyOf(h.send(pxeRequest({ mac: 'b8:27:eb:00:00:01', guid: Buffer.concat([Buffer.from([0]), Buffer.alloc(16, 0x44)]) })));
    expect(h.store.byIp(pi3.yiaddr)).toMatchObject({ state: 'bound', expiresAt: T0 + 600_000 });
    h.now += 30_001; // past offerHoldMs: an ordinary offer would be free again
    expect(replyOf(h.send(request({ mac: B }))).yiaddr).not.toBe(pi3.yiaddr);
    // a Pi 4 does the full exchange, so its offer is only held
    const pi4 = replyOf(h.send(pxeRequest({ mac: 'dc:a6:32:00:00:01' })));
    expect(h.store.byIp(pi4.yiaddr)?.state).toBe('offered');
  });

  it('Pi 3 reply delay applies to the OFFER only', () => {
    const mac = 'b8:27:eb:00:00:01';
    const offer = h.send(pxeRequest({ mac }));
    expect(offer.kind === 'reply' && offer.delayMs).toBe(1000);
    const ack = h.send(pxeRequest({ mac, type: 'REQUEST', serverId: SERVER, requestedIp: replyOf(offer).yiaddr }));
    expect(ack.kind === 'reply' && ack.delayMs).toBeUndefined();
  });

  it('clients: known → unknown non-PXE clients are ignored without a boot event', () => {
    const d = h.send(request({ mac: A }), { clients: 'known' });
    expect(d).toMatchObject({ kind: 'ignore', reason: 'unknown-client' });
    expect(d.kind === 'ignore' && d.event).toBeUndefined();
  });

  it('relayed requests are ignored (we own only the boot subnet)', () => {
    expect(h.send(request({ mac: A, giaddr: '10.9.9.1' }))).toMatchObject({ kind: 'ignore', reason: 'relayed' });
  });
});
