import { describe, expect, it } from 'vitest';
import { installedStatus, isPrunedPath, mergePackageLists, packageNameProblem, parseSimulatedInstall, unknownPackages } from './packages.ts';

describe('package layer decisions', () => {
  it('reads the Inst lines of apt-get -s install (an upgrade bracket, a multiarch suffix, empty brackets)', () => {
    const out = [
      'Reading package lists...',
      'Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [arm64]) []',
      'Inst zlib1g (1:1.2.13.dfsg-1+deb12u1 Debian-Security:12/oldstable-security [arm64])',
      'Inst libssl3 [3.0.1-1] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [arm64])',
      'Inst libfoo:arm64 (1.0 Debian:12.15/oldstable [arm64])',
      'Conf zlib1g (1:1.2.13.dfsg-1+deb12u1 Debian-Security:12/oldstable-security [arm64])',
    ].join('\n');
    expect(parseSimulatedInstall(out)).toEqual([
      { package: 'libc6', version: '2.36-9+deb12u14' },
      { package: 'zlib1g', version: '1:1.2.13.dfsg-1+deb12u1' },
      { package: 'libssl3', version: '3.0.22-1~deb12u2' },
      { package: 'libfoo', version: '1.0' },
    ]);
    expect(parseSimulatedInstall('')).toEqual([]);
  });

  it('names every package apt cannot find or install (what apt-get prints on stderr)', () => {
    const err = [
      'E: Unable to locate package nosuchpkg',
      'E: Unable to locate package zzz',
      "E: Package 'python' has no installation candidate",
      "E: Couldn't find any package by glob 'py*thon'",
    ].join('\n');
    expect(unknownPackages(err)).toEqual(['nosuchpkg', 'zzz', 'python', 'py*thon']);
    expect(unknownPackages('W: some warning\n')).toEqual([]);
  });

  it('writes dpkg status stanzas apt reads as installed', () => {
    const text = installedStatus([
      { package: 'libc6', version: '2.36-9', architecture: 'arm64' },
      { package: 'dpkg', version: '1.21.23', architecture: 'arm64' },
    ]);
    expect(text).toBe(
      'Package: libc6\nStatus: install ok installed\nPriority: optional\nArchitecture: arm64\nVersion: 2.36-9\n\n' +
        'Package: dpkg\nStatus: install ok installed\nPriority: optional\nArchitecture: arm64\nVersion: 1.21.23\n',
    );
  });

  it.each([
    ['python3-minimal', undefined],
    ['libstdc++6', undefined],
    ['g++-12', undefined],
    ['Python3', 'not a Debian package name'],
    ['-o', 'not a Debian package name'],
    ['x', 'not a Debian package name'],
    ['foo bar', 'not a Debian package name'],
    ['foo=1.0', 'not a Debian package name'],
  ])('package name %j', (name, problem) => {
    const got = packageNameProblem(name);
    if (problem === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(problem);
  });

  it('merges config and --package lists, first seen first, without duplicates or blanks', () => {
    expect(mergePackageLists(['python3-minimal', 'libpython3-stdlib'], ['python3-numpy', 'python3-minimal', ' '])).toEqual([
      'python3-minimal',
      'libpython3-stdlib',
      'python3-numpy',
    ]);
    expect(mergePackageLists([], [])).toEqual([]);
  });

  it.each([
    ['usr/share/doc/python3.11/copyright', true],
    ['usr/share/man/man1/python3.1.gz', true],
    ['usr/share/locale/de/LC_MESSAGES/x.mo', true],
    ['usr/share/doc', true],
    ['usr/share/lintian/overrides/x', true],
    ['usr/share/python3/debian_defaults', false],
    ['usr/lib/python3.11/json/__init__.py', false],
    ['usr/share/documentation', false],
    ['etc/mime.types', false],
  ])('prunes %s: %s', (path, pruned) => {
    expect(isPrunedPath(path)).toBe(pruned);
  });
});
