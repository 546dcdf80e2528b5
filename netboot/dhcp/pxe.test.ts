import { describe, expect, it } from 'vitest';
import { decodeDhcp } from './codec.ts';
import { loadHex } from './fixtures/load.ts';
import { clientInfo } from './options.ts';
import { archOf, DEFAULT_PI_OUIS, identifyPi, parsePiGuid, piVendorOptions } from './pxe.ts';
import { dhcpConfig } from './config.ts';
import { pxeRequest, request } from './testing.ts';

const guid = (hex: string): Buffer => Buffer.from(`00${hex}`, 'hex');

describe('option 97 layouts', () => {
  it.each([
    ['3B constant', guid('44'.repeat(16)), { format: 'pi3b-constant', model: 'pi3b' }],
    ['serial x4 (3B+, fw#1605)', guid('164c6cb6'.repeat(4)), { format: 'serial-x4', serial: 'b66c4c16' }],
    ['RPi4 little-endian FourCC', guid('525069341131c000320136c2b99beb89'), { format: 'fourcc', model: 'pi4', serial: '89eb9bb9' }],
    ['RPi4 big-endian FourCC (cmprovision matches both)', guid('3469505200c031112c0136c289eb9bb9'), { format: 'fourcc', model: 'pi4', serial: '89eb9bb9' }],
    ['RPi5', guid('525069357041d000670a1b2cefbeadde'), { format: 'fourcc', model: 'pi5', serial: 'deadbeef' }],
  ])('%s', (_n, g, want) => {
    expect(parsePiGuid(g)).toEqual(want);
  });
  it.each([
    ['16 bytes', Buffer.alloc(16)],
    ['leading byte not 0', Buffer.concat([Buffer.from([1]), Buffer.alloc(16, 0x44)])],
    ['a PC UUID', guid('4c4c4544004a3510804bb4c04f4d3832')],
    ['all zero', guid('00'.repeat(16))],
  ])('not a Pi: %s', (_n, g) => {
    expect(parsePiGuid(g)).toBeUndefined();
  });
});

describe('identifyPi', () => {
  it.each([
    ['pi3b-discover', { model: 'pi3b', by: ['oui', 'guid'] }],
    ['pi3bplus-discover', { model: 'pi3', by: ['oui', 'guid'], serial: 'b66c4c16' }],
    ['pi4-discover', { model: 'pi4', by: ['oui', 'guid'], serial: '89eb9bb9' }],
    ['pi5-discover', { model: 'pi5', by: ['oui', 'guid'], serial: 'deadbeef' }],
  ])('%s', (name, want) => {
    expect(identifyPi(clientInfo(decodeDhcp(loadHex(name))), DEFAULT_PI_OUIS)).toMatchObject(want);
  });

  it.each(DEFAULT_PI_OUIS)('OUI %s is a Pi when it is a PXE client', (oui) => {
    expect(identifyPi(clientInfo(pxeRequest({ mac: `${oui}:01:02:03` })), DEFAULT_PI_OUIS)?.by).toEqual(['oui']);
  });

  it('never by option 93 alone: an x86 BIOS with the Pi vendor class is not a Pi', () => {
    expect(identifyPi(clientInfo(pxeRequest({ mac: '52:54:00:01:02:03', arch: 0 })), DEFAULT_PI_OUIS)).toBeUndefined();
  });

  it('a Pi OUI without option 60 is not a PXE boot (e.g. the node OS asking for an address)', () => {
    expect(identifyPi(clientInfo(request({ mac: 'dc:a6:32:01:02:03' })), DEFAULT_PI_OUIS)).toBeUndefined();
  });

  it('the OUI list is configuration', () => {
    expect(identifyPi(clientInfo(pxeRequest({ mac: 'dc:a6:32:01:02:03' })), ['b8:27:eb'])).toBeUndefined();
    expect(dhcpConfig().piOuis).toEqual(DEFAULT_PI_OUIS);
  });
});

it('piVendorOptions: the 32 bytes dnsmasq sends, lengths computed from the text', () => {
  expect(piVendorOptions('Raspberry Pi Boot').toString('hex')).toBe('0601030a04005058450914000011526173706265727279205069204' + '26f6f74ff');
  const custom = piVendorOptions('~~Raspberry Pi Boot~~');
  expect(custom[10]).toBe(3 + 21);
  expect(custom[13]).toBe(21);
  expect(custom.length).toBe(32 + 4);
});

it.each([
  [0, 'bios'],
  [7, 'x64-uefi'],
  [9, 'x64-uefi'],
  [11, 'arm64-uefi'],
  [6, undefined],
  [10, undefined],
  [undefined, undefined],
])('archOf(%s) = %s', (code, want) => {
  expect(archOf(code)).toBe(want);
});
