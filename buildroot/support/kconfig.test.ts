import { describe, expect, it } from 'vitest';
import { buildrootVersion, kernelCommit, parseKconfig } from './kconfig.ts';

describe('Kconfig reader', () => {
  it('reads set, quoted and unset symbols and flags the rest', () => {
    const k = parseKconfig('# comment\nBR2_A=y\nBR2_B="x \\"q\\" y"\n# BR2_C is not set\n\nBR2_A=n\nbogus line\n');
    expect(k.values.get('BR2_A')).toBe('n');
    expect(k.values.get('BR2_B')).toBe('x "q" y');
    expect([...k.unset]).toEqual(['BR2_C']);
    expect(k.duplicates).toEqual(['BR2_A']);
    expect(k.malformed).toEqual([{ line: 7, text: 'bogus line' }]);
  });

  it('finds the Buildroot version in a .config header and the kernel commit in a location', () => {
    expect(buildrootVersion('#\n# Automatically generated file; DO NOT EDIT.\n# Buildroot 2025.02.18 Configuration\n#\n')).toBe('2025.02.18');
    expect(buildrootVersion('BR2_A=y\n')).toBeUndefined();
    const c = 'a'.repeat(40);
    expect(kernelCommit(`$(call github,raspberrypi,linux,${c})/linux-${c}.tar.gz`)).toBe(c);
    expect(kernelCommit('https://example.org/linux.tar.gz')).toBeUndefined();
  });
});
