import { describe, expect, it } from 'vitest';
import { fillServerAddress, isFillableLoader, TFTP_SERVER_PLACEHOLDER } from './loader-fill.ts';

describe('fillServerAddress', () => {
  it('overwrites each placeholder with the address padded to the same length, nothing else', () => {
    const before = `MZ..set picluster_server=${TFTP_SERVER_PLACEHOLDER}\nrest ${TFTP_SERVER_PLACEHOLDER}.`;
    const data = Buffer.from(before, 'latin1');
    expect(fillServerAddress(data, '10.213.40.1')).toBe(2);
    expect(data.length).toBe(before.length);
    expect(data.toString('latin1')).toBe(`MZ..set picluster_server=10.213.40.1${' '.repeat(14)}\nrest 10.213.40.1${' '.repeat(14)}.`);
  });

  it.each(['0.0.0.0', '', 'fe80::1', '10.0.0.1; reboot', '1.2.3'])('refuses %j (the image keeps its fallback)', (address) => {
    const data = Buffer.from(TFTP_SERVER_PLACEHOLDER, 'latin1');
    expect(fillServerAddress(data, address)).toBe(0);
    expect(data.toString('latin1')).toBe(TFTP_SERVER_PLACEHOLDER);
  });

  it('leaves data without a placeholder alone', () => {
    const data = Buffer.from('no marker here');
    expect(fillServerAddress(data, '10.0.0.1')).toBe(0);
    expect(data.toString()).toBe('no marker here');
  });

  it('fills EFI loaders only', () => {
    expect(isFillableLoader('grubnetaa64.efi')).toBe(true);
    expect(isFillableLoader('aa-bb-cc-dd-ee-ff/BOOTAA64.EFI')).toBe(true);
    expect(isFillableLoader('kernel8.img')).toBe(false);
  });
});
