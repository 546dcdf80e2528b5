import { describe, expect, it } from 'vitest';
import { decodeDhcp, decodeEncapsulated, encodeDhcp, MIN_MESSAGE_BYTES, type DhcpMessage } from './codec.ts';
import { DecodeError, EncodeError } from './errors.ts';
import { loadHex, loadParsed, PI_DISCOVER_FIXTURES } from './fixtures/load.ts';
import { clientInfo, messageToJson } from './options.ts';
import { pxeRequest, request } from './testing.ts';

const PI_OPTION_43 = Buffer.from('0601030a040050584509140000115261737062657272792050692042' + '6f6f74ff', 'hex');

describe('golden: real Pi DISCOVERs', () => {
  it.each(PI_DISCOVER_FIXTURES)('%s decodes to its checked-in parsed form', (name) => {
    expect(messageToJson(decodeDhcp(loadHex(name)))).toEqual(loadParsed(name));
  });

  it.each(PI_DISCOVER_FIXTURES)('%s re-encodes byte for byte', (name) => {
    const bytes = loadHex(name);
    expect(encodeDhcp(decodeDhcp(bytes)).equals(bytes)).toBe(true);
  });

  it.each(['dnsmasq-proxy-offer-pi3b', 'dnsmasq-proxy-offer-pi4'])(
    '%s (real dnsmasq capture) decodes to its parsed form and re-encodes byte for byte',
    (name) => {
      const bytes = loadHex(name);
      expect(bytes.length).toBe(314);
      expect(messageToJson(decodeDhcp(bytes))).toEqual(loadParsed(name));
      expect(encodeDhcp(decodeDhcp(bytes)).equals(bytes)).toBe(true);
    },
  );

  it('ipxe-qemu-discover (real iPXE capture) decodes to its parsed form and re-encodes byte for byte', () => {
    const bytes = loadHex('ipxe-qemu-discover');
    expect(messageToJson(decodeDhcp(bytes))).toEqual(loadParsed('ipxe-qemu-discover'));
    expect(encodeDhcp(decodeDhcp(bytes)).equals(bytes)).toBe(true);
  });

  it('Pi 3B: the facts from the Raspberry Pi documentation capture', () => {
    const bytes = loadHex('pi3b-discover');
    expect(bytes.length).toBe(320);
    const msg = decodeDhcp(bytes);
    expect(msg.xid).toBe(0x26f30339);
    expect(msg.flags).toBe(0);
    expect(msg.op).toBe(1);
    const info = clientInfo(msg);
    expect(info.mac).toBe('b8:27:eb:28:f6:6d');
    expect(msg.options.map((o) => o.code)).toEqual([53, 55, 93, 94, 97, 60]);
    expect(info.paramList).toEqual([43, 60, 67, 128, 129, 130, 131, 132, 133, 134, 135, 66]);
    expect(info.archs).toEqual([0]);
    expect(info.ndi).toBe('1.2.1');
    expect(info.guid?.toString('hex')).toBe(`00${'44'.repeat(16)}`);
    expect(info.vendorClass).toBe('PXEClient:Arch:00000:UNDI:002001');
  });

  it('Pi 3B+: option 97 is 00 + serial little-endian x4', () => {
    const info = clientInfo(decodeDhcp(loadHex('pi3bplus-discover')));
    expect(info.guid?.toString('hex')).toBe(`00${'164c6cb6'.repeat(4)}`);
  });

  it.each(['pi4-discover', 'pi5-discover'])('%s: 322 bytes, 14-item option 55 with 1 and 3 first', (name) => {
    const bytes = loadHex(name);
    expect(bytes.length).toBe(322);
    expect(clientInfo(decodeDhcp(bytes)).paramList).toEqual([1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135]);
  });

  it('option 43 from the dnsmasq proxy OFFER parses into sub-options 6, 10, 9', () => {
    expect(decodeEncapsulated(PI_OPTION_43)).toEqual([
      { code: 6, data: Buffer.from([3]) },
      { code: 10, data: Buffer.from('00505845', 'hex') },
      { code: 9, data: Buffer.concat([Buffer.from([0, 0, 17]), Buffer.from('Raspberry Pi Boot')]) },
    ]);
  });
});

describe('round trip', () => {
  const cases: [string, DhcpMessage][] = [
    ['minimal DISCOVER', request()],
    ['PXE DISCOVER with GUID', pxeRequest({ guid: Buffer.alloc(17, 7), userClass: 'iPXE' })],
    [
      'REQUEST with server id and requested IP',
      request({ type: 'REQUEST', serverId: '10.0.0.1', requestedIp: '10.0.0.9', clientId: Buffer.from('01aabbccddeeff', 'hex') }),
    ],
    [
      'reply with addresses, sname and file',
      {
        ...request({ type: 'ACK' }),
        op: 2,
        yiaddr: '192.168.7.9',
        siaddr: '192.168.7.1',
        ciaddr: '192.168.7.9',
        giaddr: '10.9.8.7',
        sname: 'master',
        file: 'undionly.kpxe',
        flags: 0x8000,
        secs: 65535,
        hops: 3,
      },
    ],
    ['empty option', request({ extra: [{ code: 80, data: Buffer.alloc(0) }] })],
    ['long option (RFC 3396 split)', request({ extra: [{ code: 125, data: Buffer.alloc(600, 0xab) }] })],
  ];
  it.each(cases)('%s: decode(encode(x)) equals x', (_name, msg) => {
    expect(decodeDhcp(encodeDhcp(msg))).toEqual(msg);
  });

  it('pads to the 300-byte BOOTP minimum', () => {
    const bytes = encodeDhcp(request());
    expect(bytes.length).toBe(MIN_MESSAGE_BYTES);
    expect(bytes[243]).toBe(255); // 53 01 01 then end
  });

  it('splits an option longer than 255 bytes into consecutive instances', () => {
    const bytes = encodeDhcp(request({ extra: [{ code: 125, data: Buffer.alloc(300, 1) }] }));
    const at = bytes.indexOf(Buffer.from([125, 255]));
    expect(at).toBeGreaterThan(240);
    expect(bytes.subarray(at + 257, at + 259)).toEqual(Buffer.from([125, 45]));
  });
});

/** Builds a datagram from a header message and a raw options area. */
function rawPacket(optionsHex: string, mutate?: (b: Buffer) => void): Buffer {
  const head = encodeDhcp(request()).subarray(0, 240);
  const b = Buffer.concat([head, Buffer.from(optionsHex.replace(/\s/g, ''), 'hex')]);
  mutate?.(b);
  return b;
}

describe('option framing', () => {
  it('skips pad options anywhere', () => {
    const msg = decodeDhcp(rawPacket('00 00 350101 00 3c0450584543 0000 ff 0000'));
    expect(msg.options).toEqual([
      { code: 53, data: Buffer.from([1]) },
      { code: 60, data: Buffer.from('PXEC') },
    ]);
  });

  it('accepts options that stop at the end of the datagram without an end option', () => {
    expect(decodeDhcp(rawPacket('350101 3c0141')).options.map((o) => o.code)).toEqual([53, 60]);
  });

  it('ignores bytes after the end option', () => {
    expect(decodeDhcp(rawPacket('350101 ff 3c ff ff 12')).options.map((o) => o.code)).toEqual([53]);
  });

  it('concatenates repeated options (RFC 3396)', () => {
    const msg = decodeDhcp(rawPacket('350101 7d024142 3c0150 7d0143 ff'));
    expect(msg.options.find((o) => o.code === 125)?.data.toString()).toBe('ABC');
  });

  it.each([
    [1, [53, 12], { file: '', snameEmpty: false }],
    [2, [53, 15], { file: 'set', snameEmpty: true }],
    [3, [53, 12, 15], { file: '', snameEmpty: true }],
  ] as const)('overload %i: options continue in file (1), sname (2), file then sname (3)', (value, codes, fields) => {
    const b = rawPacket(`350101 3401${value.toString(16).padStart(2, '0')} ff`, (buf) => {
      Buffer.from('0c0766696c656f7074ff', 'hex').copy(buf, 108); // file: option 12 "fileopt"
      Buffer.from('0f08736e616d656f7074ff', 'hex').copy(buf, 44); // sname: option 15 "snameopt"
    });
    const msg = decodeDhcp(b);
    expect(msg.options.map((o) => o.code)).toEqual(codes);
    if (value & 1) expect(msg.options.find((o) => o.code === 12)?.data.toString()).toBe('fileopt');
    if (value & 2) expect(msg.options.find((o) => o.code === 15)?.data.toString()).toBe('snameopt');
    expect(msg.file === '').toBe(fields.file === '');
    expect(msg.sname === '').toBe(fields.snameEmpty);
  });

  it('a plain BOOTP datagram (no magic cookie) has no options', () => {
    const b = rawPacket('350101ff', (buf) => buf.writeUInt32BE(0, 236));
    expect(decodeDhcp(b).options).toEqual([]);
    expect(decodeDhcp(b.subarray(0, 236)).options).toEqual([]);
  });
});

describe('DecodeError', () => {
  const cases: [string, Buffer, number, RegExp][] = [
    ['empty', Buffer.alloc(0), 0, /truncated/],
    ['truncated header', loadHex('pi3b-discover').subarray(0, 235), 235, /truncated/],
    ['bad op', rawPacket('ff', (b) => (b[0] = 3)), 0, /op 3/],
    ['hlen > 16', rawPacket('ff', (b) => (b[2] = 17)), 2, /hlen/],
    ['option overruns datagram', rawPacket('350101 3c20 5058'), 243, /claims 32 bytes/],
    ['option without length byte', rawPacket('350101 3c'), 243, /no length byte/],
    ['message type of 2 bytes', rawPacket('35020101 ff'), 240, /option 53 has invalid length 2/],
    ['duplicate message type', rawPacket('350101 350103 ff'), 240, /option 53 has invalid length 2/],
    ['server id of 3 bytes', rawPacket('350101 3603010203 ff'), 243, /option 54/],
    ['odd-length client arch', rawPacket('350101 5d03000000 ff'), 243, /option 93/],
    ['overload value 4', rawPacket('350101 340104 ff'), 243, /overload/],
    ['overload option overruns file', rawPacket('350101 340101 ff', (b) => Buffer.from('0cff', 'hex').copy(b, 108 + 126)), 234, /in file/],
  ];
  it.each(cases)('%s', (_name, bytes, offset, reason) => {
    let caught: unknown;
    try {
      decodeDhcp(bytes);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DecodeError);
    expect((caught as DecodeError).offset).toBe(offset);
    expect((caught as DecodeError).reason).toMatch(reason);
    expect((caught as DecodeError).code).toBe('DHCP_DECODE');
  });
});

describe('EncodeError', () => {
  it.each([
    ['sname too long', { ...request(), sname: 'x'.repeat(64) }],
    ['file too long', { ...request(), file: 'x'.repeat(128) }],
    ['bad address', { ...request(), yiaddr: '10.0.0.256' }],
    ['xid not u32', { ...request(), xid: -1 }],
    ['option code 255', { ...request(), options: [{ code: 255, data: Buffer.alloc(0) }] }],
  ])('%s', (_name, msg) => {
    expect(() => encodeDhcp(msg as DhcpMessage)).toThrow(EncodeError);
  });
});
