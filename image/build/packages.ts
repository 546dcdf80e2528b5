/**
 * The package layer's decisions, pure: which Debian packages the layer gets (the closure apt
 * resolves for the requested names, minus what the base already has), how apt's simulated
 * install is read, which files of an unpacked package are left out, and what the node pays in
 * idle RAM. The I/O (apt, dpkg-deb, mksquashfs) is in layer.ts.
 *
 * How the closure is resolved: `apt-get -s install <requested>` against a dpkg status that says
 * the BASE_PROVIDED and NOT_SHIPPED packages are already installed, so apt neither lists them
 * nor follows their dependencies (dpkg would otherwise drag in tar, libselinux1, …).
 */
import type { DebInfo } from './apt.ts';

/** What `image.packages` defaults to: python3 without its extras (python jobs need json, traceback, importlib, resource). */
export const DEFAULT_IMAGE_PACKAGES: readonly string[] = ['python3-minimal', 'libpython3-stdlib'];

/** In the base already: the initramfs carries their shared libraries (inputs.ts RUNTIME_LIBS). */
export const BASE_PROVIDED: readonly string[] = ['libc6', 'libgcc-s1', 'libstdc++6', 'gcc-12-base'];

/**
 * Needed to install packages, not to run them: a RAM-only node has no dpkg database and runs no
 * maintainer scripts, so these (and their own dependencies) stay out of the layer.
 */
export const NOT_SHIPPED: readonly string[] = ['dpkg', 'debconf', 'perl-base', 'init-system-helpers', 'sensible-utils', 'ucf'];

/** Debian policy 5.6.1: lowercase letters, digits, + - . ; at least two characters, starting alphanumeric. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

export function packageNameProblem(name: string): string | undefined {
  return PACKAGE_NAME.test(name) ? undefined : `'${name}' is not a Debian package name (lowercase letters, digits, + - .)`;
}

/** Requested names, de-duplicated, in first-seen order (config first, then --package). */
export function mergePackageLists(...lists: ReadonlyArray<readonly string[]>): string[] {
  return [
    ...new Set(
      lists
        .flat()
        .map((p) => p.trim())
        .filter((p) => p.length > 0),
    ),
  ];
}

/**
 * dpkg status stanzas marking packages as installed (at their candidate version, so versioned
 * dependencies on them are satisfied).
 */
export function installedStatus(infos: ReadonlyArray<Pick<DebInfo, 'package' | 'version' | 'architecture'>>): string {
  return infos
    .map((i) =>
      [`Package: ${i.package}`, 'Status: install ok installed', 'Priority: optional', `Architecture: ${i.architecture}`, `Version: ${i.version}`, ''].join(
        '\n',
      ),
    )
    .join('\n');
}

export interface SimulatedInstall {
  readonly package: string;
  readonly version: string;
}

/** The `Inst <pkg> [<old>] (<version> <suites> [<arch>])` lines of `apt-get -s install`. */
export function parseSimulatedInstall(stdout: string): SimulatedInstall[] {
  const out: SimulatedInstall[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) /.exec(line);
    if (m) out.push({ package: (m[1] as string).replace(/:[a-z0-9]+$/, ''), version: m[2] as string });
  }
  return out;
}

/** The package names apt says it cannot find or install ("Unable to locate package x", "no installation candidate"). */
export function unknownPackages(stderr: string): string[] {
  const names = new Set<string>();
  for (const m of stderr.matchAll(/^E: Unable to locate package (\S+)/gm)) names.add(m[1] as string);
  for (const m of stderr.matchAll(/^E: Package '([^']+)' has no installation candidate/gm)) names.add(m[1] as string);
  for (const m of stderr.matchAll(/^E: Couldn't find any package by (?:glob|regex) '([^']+)'/gm)) names.add(m[1] as string);
  return [...names];
}

/**
 * Paths (relative to the unpacked root, no leading slash) left out of the layer: docs, manuals,
 * translations and lintian/bug-reporting metadata — nobody reads them on a node, and every byte
 * of the layer is held in RAM.
 */
export function isPrunedPath(rel: string): boolean {
  return /^usr\/share\/(doc|doc-base|man|info|locale|lintian|bug|menu)(\/|$)/.test(rel);
}

/**
 * What the layer costs a node at idle: the compressed squashfs is held in /run (tmpfs) for the
 * node's lifetime; the overlay upper dirs start empty, and pages of files in use are decompressed
 * into the (reclaimable) page cache only when read.
 */
export function layerIdleRamBytes(layerSizeBytes: number): number {
  return layerSizeBytes;
}
