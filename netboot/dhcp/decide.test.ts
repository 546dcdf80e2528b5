import { describe, expect, it } from 'vitest';
import { decodeDhcp, encodeDhcp, type DhcpMessage } from './codec.ts';
import { decideReply, type Decision } from './decide.ts';
import { loadHex, PI_DISCOVER_FIXTURES } from './fixtures/load.ts';
import { clientInfo, getOption, messageTypeName, Opt } from './options.ts';
import { context, FakeDirectory, pxeRequest, request, SERVER } from './testing.ts';

/** Option 43 of dnsmasq's proxy OFFER for `pxe-service=0,"Raspberry Pi Boot"` (issue 3). */
const PI_43 = '06 01 03 0a 04 00 50 58 45 09 14 00 00 11 52 61 73 70 62 65 72 72 79 20 50 69 20 42 6f 6f 74 ff'.replaceAll(' ', '');

function reply(d: Decision): Extract<Decision, { kind: 'reply' }> {
  if (d.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(d)}`);
  return d;
}

function opts(m: DhcpMessage): [number, string][] {
  return m.options.map((o) => [o.code, o.data.toString('hex')]);
}

describe('proxy mode: Pis get what dnsmasq sends', () => {
  it.each(PI_DISCOVER_FIXTURES)('%s → OFFER 53=2, 54, 60, 97 echoed, 43, yiaddr 0, broadcast', (name) => {
    const req = decodeDhcp(loadHex(name));
    const d = reply(decideReply(req, context()));
    const m = d.message;
    expect(m.op).toBe(2);
    expect(m.xid).toBe(req.xid);
    expect(m.yiaddr).toBe('0.0.0.0');
    expect(m.siaddr).toBe('0.0.0.0');
    expect(m.file).toBe('');
    expect(m.flags).toBe(0x8000);
    expect(m.chaddr).toEqual(req.chaddr);
    expect(opts(m)).toEqual([
      [53, '02'],
      [54, '0ad50001'],
      [60, Buffer.from('PXEClient').toString('hex')],
      [97, getOption(req, Opt.ClientGuid)!.toString('hex')],
      [43, PI_43],
    ]);
    expect(d.to).toEqual({ address: '255.255.255.255', port: 68 });
    // dnsmasq's proxy OFFER for a Pi is 314 bytes (reference §4)
    expect(encodeDhcp(m).length).toBe(314);
    expect(d.event).toMatchObject({ kind: 'dhcp-discover', outcome: 'answered', mac: clientInfo(req).mac });
  });

  it.each([
    ['pi3b-discover', 'dnsmasq-proxy-offer-pi3b'],
    ['pi4-discover', 'dnsmasq-proxy-offer-pi4'],
  ])('%s → byte for byte the OFFER real dnsmasq sent (%s)', (req, offer) => {
    const d = reply(decideReply(decodeDhcp(loadHex(req)), context({ serverAddress: '10.213.1.1' })));
    expect(encodeDhcp(d.message).toString('hex')).toBe(loadHex(offer).toString('hex'));
  });

  it.each([
    ['pi3b-discover', 1000],
    ['pi3bplus-discover', 1000],
    ['pi4-discover', undefined],
    ['pi5-discover', undefined],
  ])('%s: reply delay %s ms (Pi 3 boot ROM race, fw#934)', (name, delay) => {
    expect(reply(decideReply(decodeDhcp(loadHex(name)), context())).delayMs).toBe(delay);
  });

  it('reply delays are configurable per OUI (defaults merge; 0 turns one off)', () => {
    const ctx = context({ dhcp: { replyDelayMs: { 'dc:a6:32': 250, 'b8:27:eb': 0 } } });
    expect(reply(decideReply(decodeDhcp(loadHex('pi4-discover')), ctx)).delayMs).toBe(250);
    expect(reply(decideReply(decodeDhcp(loadHex('pi3b-discover')), ctx)).delayMs).toBeUndefined();
  });

  it('menu text is configurable and lengths follow it (3B: three trailing spaces)', () => {
    const d = reply(decideReply(decodeDhcp(loadHex('pi3b-discover')), context({ dhcp: { menuText: 'Raspberry Pi Boot   ' } })));
    const o43 = getOption(d.message, Opt.VendorSpecific)!;
    expect(o43.length).toBe(35);
    expect(o43.subarray(9, 14).toString('hex')).toBe('0917000014');
    expect(o43.subarray(14, 34).toString('latin1')).toBe('Raspberry Pi Boot   ');
    expect(o43[34]).toBe(0xff);
  });

  it('serial from option 97 is on the event (3B+)', () => {
    const d = reply(decideReply(decodeDhcp(loadHex('pi3bplus-discover')), context()));
    expect(d.event.serial).toBe('b66c4c16');
  });
});

describe('proxy mode: who is answered', () => {
  const x86 = '52:54:00:aa:bb:cc';
  const cases: [string, DhcpMessage, { kind: 'ignore'; reason: string; event: boolean } | { kind: 'reply'; file: string; siaddr: string; o43: string }][] = [
    ['non-PXE client', request({ mac: x86 }), { kind: 'ignore', reason: 'not-pxe-client', event: false }],
    [
      'x86 BIOS (arch 0, same option 60 as a Pi, non-Pi OUI)',
      pxeRequest({ mac: x86, arch: 0 }),
      { kind: 'reply', file: 'undionly.kpxe', siaddr: SERVER, o43: '060108ff' },
    ],
    [
      'x86-64 UEFI (arch 7)',
      pxeRequest({ mac: x86, arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003016' }),
      { kind: 'reply', file: 'ipxe.efi', siaddr: SERVER, o43: '060108ff' },
    ],
    ['x86-64 UEFI (arch 9)', pxeRequest({ mac: x86, arch: 9 }), { kind: 'reply', file: 'ipxe.efi', siaddr: SERVER, o43: '060108ff' }],
    ['arm64 UEFI (arch 11)', pxeRequest({ mac: x86, arch: 11 }), { kind: 'reply', file: 'grubnetaa64.efi', siaddr: SERVER, o43: '060108ff' }],
    ['x86 UEFI 32-bit (arch 6)', pxeRequest({ mac: x86, arch: 6 }), { kind: 'ignore', reason: 'unsupported-arch', event: true }],
    [
      'PXE client without option 93',
      { ...pxeRequest({ mac: x86 }), options: pxeRequest({ mac: x86 }).options.filter((o) => o.code !== 93) },
      { kind: 'ignore', reason: 'no-client-arch', event: true },
    ],
    [
      'iPXE',
      pxeRequest({ mac: x86, userClass: 'iPXE' }),
      { kind: 'reply', file: `http://${SERVER}:8080/boot/ipxe?mac=\${net0/mac}`, siaddr: SERVER, o43: '060108ff' },
    ],
    [
      'Pi by option 97 alone (RPi4 GUID, unknown OUI)',
      decodeDhcp(withMac(loadHex('pi4-discover'), '02:00:00:00:00:01')),
      { kind: 'reply', file: '', siaddr: '0.0.0.0', o43: PI_43 },
    ],
    ['Pi by OUI alone (no option 97)', pxeRequest({ mac: 'd8:3a:dd:01:02:03' }), { kind: 'reply', file: '', siaddr: '0.0.0.0', o43: PI_43 }],
    [
      'REQUEST on port 67 (dnsmasq drops it in proxy mode)',
      decodeDhcp(asType(loadHex('pi4-discover'), 3)),
      { kind: 'ignore', reason: 'proxy-request', event: true },
    ],
    [
      'REQUEST for another server',
      pxeRequest({ type: 'REQUEST', serverId: '192.168.1.1', requestedIp: '192.168.1.50' }),
      { kind: 'ignore', reason: 'request-for-other-server', event: true },
    ],
    ['a BOOTREPLY', { ...pxeRequest(), op: 2 }, { kind: 'ignore', reason: 'not-a-request', event: false }],
    ['plain BOOTP', { ...pxeRequest(), options: [] }, { kind: 'ignore', reason: 'not-dhcp', event: false }],
    ['not Ethernet', { ...pxeRequest(), htype: 6 }, { kind: 'ignore', reason: 'not-ethernet', event: false }],
  ];
  it.each(cases)('%s', (_name, req, want) => {
    const d = decideReply(req, context());
    if (want.kind === 'ignore') {
      expect(d).toMatchObject({ kind: 'ignore', reason: want.reason });
      expect(d.kind === 'ignore' && d.event !== undefined).toBe(want.event);
      if (want.event) expect(d.kind === 'ignore' && d.event).toMatchObject({ kind: 'dhcp-ignored', outcome: 'ignored', reason: want.reason });
      return;
    }
    const m = reply(d).message;
    expect(m.file).toBe(want.file);
    expect(m.siaddr).toBe(want.siaddr);
    expect(getOption(m, Opt.VendorSpecific)?.toString('hex')).toBe(want.o43);
    expect(m.yiaddr).toBe('0.0.0.0');
    expect(messageTypeName(getOption(m, Opt.MessageType)?.[0])).toBe('OFFER');
  });

  it.each([
    ['option 50 of a SELECTING REQUEST', pxeRequest({ type: 'REQUEST', serverId: '192.168.1.1', requestedIp: '192.168.1.50' }), '192.168.1.50'],
    ['ciaddr of a renewing REQUEST', pxeRequest({ type: 'REQUEST', ciaddr: '192.168.1.51' }), '192.168.1.51'],
    ['neither', pxeRequest({ type: 'REQUEST', serverId: '192.168.1.1' }), undefined],
  ])("a REQUEST to the router carries the client's address on its event (%s): IP-only fetches are joined by it", (_n, req, ip) => {
    const d = decideReply(req, context());
    expect(d.kind === 'ignore' && d.event?.ip).toBe(ip ?? undefined);
  });

  it('real iPXE DISCOVER (same option 60 and 93 as a Pi) gets the iPXE script URL, not the Pi menu', () => {
    const m = reply(decideReply(decodeDhcp(loadHex('ipxe-qemu-discover')), context())).message;
    expect(m.file).toBe(`http://${SERVER}:8080/boot/ipxe?mac=\${net0/mac}`);
    expect(getOption(m, Opt.VendorSpecific)?.toString('hex')).toBe('060108ff');
  });

  it('boot file names and the iPXE URL template are configurable', () => {
    const ctx = context({
      dhcp: { bootFiles: { bios: 'b.kpxe', x64Uefi: 'x.efi', arm64Uefi: 'a.efi' }, ipxeScriptUrl: 'tftp://{server}/ipxe/${net0/mac}', httpPort: 9000 },
    });
    expect(reply(decideReply(pxeRequest({ arch: 0 }), ctx)).message.file).toBe('b.kpxe');
    expect(reply(decideReply(pxeRequest({ arch: 11 }), ctx)).message.file).toBe('a.efi');
    expect(reply(decideReply(pxeRequest({ userClass: 'iPXE' }), ctx)).message.file).toBe(`tftp://${SERVER}/ipxe/\${net0/mac}`);
  });

  it('a boot URL too long for the file field goes in option 67', () => {
    const long = `http://{server}/${'x'.repeat(150)}`;
    const m = reply(decideReply(pxeRequest({ userClass: 'iPXE' }), context({ dhcp: { ipxeScriptUrl: long } }))).message;
    expect(m.file).toBe('');
    expect(getOption(m, Opt.BootfileName)?.toString()).toBe(long.replace('{server}', SERVER));
  });

  it('no request type is ever answered on port 67 except DISCOVER', () => {
    for (const name of PI_DISCOVER_FIXTURES) {
      for (const type of [3, 4, 7, 8]) {
        expect(decideReply(decodeDhcp(asType(loadHex(name), type)), context()).kind).toBe('ignore');
      }
    }
  });

  it('a relayed DISCOVER is answered to the relay (giaddr) on the server port', () => {
    const d = reply(decideReply(pxeRequest({ giaddr: '10.9.0.1' }), context({ serverPort: 6767 })));
    expect(d.to).toEqual({ address: '10.9.0.1', port: 6767 });
  });
});

describe('policy: clients known | any, enrollment', () => {
  const pi4 = decodeDhcp(loadHex('pi4-discover'));
  const node = { name: 'pi4-a', mac: 'dc:a6:32:01:36:c2', serial: '89eb9bb9', approved: true };
  it.each([
    ['any: unknown answered', 'any', false, [], 'reply', undefined],
    ['known: unknown ignored', 'known', false, [], 'ignore', 'unknown-client'],
    ['known: known by MAC answered', 'known', false, [node], 'reply', undefined],
    ['known: known by serial (option 97) answered', 'known', false, [{ ...node, mac: '00:00:00:00:00:01' }], 'reply', undefined],
    ['known: pending approval ignored', 'known', false, [{ ...node, approved: false }], 'ignore', 'pending-approval'],
    ['any: pending approval still ignored', 'any', false, [{ ...node, approved: false }], 'ignore', 'pending-approval'],
    ['known + enrollment: unknown enrolled and ignored', 'known', true, [], 'ignore', 'enrolled-pending-approval'],
  ] as const)('%s', (_name, clients, enrollment, nodes, kind, reason) => {
    const d = decideReply(pi4, context({ clients, enrollment, directory: new FakeDirectory([...nodes]) }));
    expect(d.kind).toBe(kind);
    if (d.kind === 'ignore') expect(d.reason).toBe(reason);
    if (d.kind === 'reply' && nodes.length > 0) expect(d.event.node).toBe('pi4-a');
  });

  it('enrollment carries MAC, serial, vendor class and arch', () => {
    const d = decideReply(pi4, context({ clients: 'known', enrollment: true }));
    expect(d).toMatchObject({
      kind: 'ignore',
      enroll: { mac: 'dc:a6:32:01:36:c2', serial: '89eb9bb9', vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: 0 },
    });
  });
});

describe('PXE port (4011)', () => {
  const src = { address: '10.213.0.50', port: 68 };
  it('REQUEST from a PXE client → ACK with the boot file, back to its source', () => {
    const req = pxeRequest({ type: 'REQUEST', arch: 7, ciaddr: '10.213.0.50', guid: Buffer.alloc(17, 1) });
    const d = reply(decideReply(req, context({ via: 'pxe', source: src })));
    expect(d.to).toEqual(src);
    expect(d.message.file).toBe('ipxe.efi');
    expect(d.message.ciaddr).toBe('10.213.0.50');
    expect(opts(d.message).map(([c]) => c)).toEqual([53, 54, 60, 97, 43]);
    expect(getOption(d.message, Opt.MessageType)?.[0]).toBe(5);
  });
  it.each([
    ['DISCOVER', pxeRequest(), 'discover-on-pxe-port'],
    ['REQUEST for another server', pxeRequest({ type: 'REQUEST', serverId: '10.213.0.9' }), 'request-for-other-server'],
    ['non-PXE REQUEST', request({ type: 'REQUEST' }), 'not-pxe-client'],
    ['RELEASE', pxeRequest({ type: 'RELEASE' }), 'unsupported-message-type'],
  ])('%s is ignored', (_n, req, reason) => {
    expect(decideReply(req, context({ via: 'pxe', source: src }))).toMatchObject({ kind: 'ignore', reason });
  });
});

function withMac(bytes: Buffer, mac: string): Buffer {
  const b = Buffer.from(bytes);
  Buffer.from(mac.replaceAll(':', ''), 'hex').copy(b, 28);
  return b;
}

/** The fixture with option 53 changed (it is the first option: bytes 240..242). */
function asType(bytes: Buffer, type: number): Buffer {
  const b = Buffer.from(bytes);
  b[242] = type;
  return b;
}
