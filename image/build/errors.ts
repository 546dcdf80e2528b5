/**
 * Errors of `picluster build-image`. Each has a stable `code`; the CLI prints `code: message`
 * and exits 1. Low-level causes (a spawn failure, an apt message) ride along as `cause`.
 */
import { PiclusterError } from '../../common/errors.ts';

/** Debian's archive or the npm registry could not be reached (DNS, TCP, HTTP 5xx). */
export class RegistryUnreachableError extends PiclusterError {
  readonly code = 'REGISTRY_UNREACHABLE';
  constructor(registry: string, detail: string, options?: { cause?: unknown }) {
    super(`cannot reach ${registry}: ${detail}`, { ...options, details: { registry } });
  }
}

/** A Debian or npm package (or a version of it) does not exist in the registry. */
export class PackageMissingError extends PiclusterError {
  readonly code = 'PACKAGE_MISSING';
  constructor(registry: string, pkg: string, detail = 'not found', options?: { cause?: unknown }) {
    super(`${registry} package ${pkg}: ${detail}`, { ...options, details: { registry, pkg } });
  }
}

/** A downloaded artefact's hash differs from the one pinned or published in the signed index. */
export class IntegrityMismatchError extends PiclusterError {
  readonly code = 'INTEGRITY_MISMATCH';
  constructor(what: string, expected: string, actual: string) {
    super(`${what}: integrity mismatch (expected ${expected}, got ${actual})`, { details: { what, expected, actual } });
  }
}

/** ENOSPC / EDQUOT while writing the cache, the work tree or the output. */
export class DiskFullError extends PiclusterError {
  readonly code = 'DISK_FULL';
  constructor(path: string, options?: { cause?: unknown }) {
    super(`no space left on device while writing ${path}`, { ...options, details: { path } });
  }
}

/** `--arch` names an architecture the image cannot be built for. */
export class UnsupportedArchError extends PiclusterError {
  readonly code = 'UNSUPPORTED_ARCH';
  constructor(arch: string, supported: readonly string[]) {
    super(`unsupported arch '${arch}' (supported: ${supported.join(', ')})`, { details: { arch, supported } });
  }
}

/** A host tool the build needs (apt-get, dpkg-deb, mksquashfs, lz4, depmod, a cross strip) is not installed. */
export class ToolMissingError extends PiclusterError {
  readonly code = 'TOOL_MISSING';
  constructor(tool: string, debianPackage: string) {
    super(`host tool '${tool}' not found: apt-get install ${debianPackage}`, { details: { tool, debianPackage } });
  }
}

/** A host tool ran and failed for a reason none of the above describes. */
export class BuildStepError extends PiclusterError {
  readonly code = 'BUILD_STEP_FAILED';
  constructor(step: string, detail: string, options?: { cause?: unknown }) {
    super(`${step}: ${detail}`, { ...options, details: { step } });
  }
}

/** True for the errno codes that mean the disk (or quota) is full. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Messages the host tools print when they ran out of space. */
export function mentionsDiskFull(text: string): boolean {
  return /no space left on device|ENOSPC|disk quota exceeded/i.test(text);
}
