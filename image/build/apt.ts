/**
 * Debian packages through a private apt state: apt-get/apt-cache run with every Dir::
 * option pointed into the build cache, so the host's apt configuration, lists and dpkg
 * status are never read or changed, root is not needed, and a foreign architecture
 * (arm64 on an amd64 host) needs no `dpkg --add-architecture`.
 *
 * apt verifies the signed InRelease (Debian archive keyring) on update and each .deb's
 * SHA256 on download; we verify the SHA256 again when a cached .deb is reused.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskFullError, IntegrityMismatchError, PackageMissingError, RegistryUnreachableError } from './errors.ts';
import { sha256File } from './hash.ts';
import { installedStatus, parseSimulatedInstall, unknownPackages, type SimulatedInstall } from './packages.ts';
import { run, runRaw, type RunResult } from './proc.ts';

export interface AptSource {
  readonly uri: string;
  readonly suites: readonly string[];
}

/** Debian bookworm (+updates, +security), main + non-free-firmware (raspi-firmware lives there). */
export const DEBIAN_SOURCES: readonly AptSource[] = [
  { uri: 'http://deb.debian.org/debian', suites: ['bookworm', 'bookworm-updates'] },
  { uri: 'http://deb.debian.org/debian-security', suites: ['bookworm-security'] },
];
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

export interface DebInfo {
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  readonly filename: string;
  readonly sha256: string;
  readonly size: number;
  readonly depends: string;
}

export interface DownloadedDeb extends DebInfo {
  /** Where the verified .deb sits in the cache. */
  readonly path: string;
  readonly cached: boolean;
}

const REGISTRY = 'Debian archive';

export class PrivateApt {
  private readonly dir: string;

  constructor(
    cacheDir: string,
    private readonly arch: string,
    private readonly sources: readonly AptSource[] = DEBIAN_SOURCES,
  ) {
    this.dir = join(cacheDir, `apt-${arch}`);
  }

  private options(): string[] {
    const d = this.dir;
    return [
      '-o',
      `APT::Architecture=${this.arch}`,
      '-o',
      `APT::Architectures::=${this.arch}`,
      '-o',
      'Dir::Etc::SourceList=/dev/null',
      '-o',
      `Dir::Etc::SourceParts=${d}/sources`,
      '-o',
      'Dir::Etc::Preferences=/dev/null',
      '-o',
      `Dir::Etc::PreferencesParts=${d}/preferences`,
      '-o',
      `Dir::State=${d}`,
      '-o',
      `Dir::State::Lists=${d}/lists`,
      '-o',
      `Dir::State::status=${d}/status`,
      '-o',
      `Dir::Cache=${d}`,
      '-o',
      `Dir::Cache::archives=${d}/archives`,
      '-o',
      `Dir::Cache::pkgcache=${d}/pkgcache.bin`,
      '-o',
      'Dir::Cache::srcpkgcache=',
      '-o',
      'APT::Sandbox::User=root',
      '-o',
      'Debug::NoLocking=1',
      '-o',
      'Acquire::Retries=2',
      '-o',
      'Acquire::http::Timeout=20',
    ];
  }

  private async prepare(): Promise<void> {
    for (const sub of ['sources', 'preferences', 'lists/partial', 'archives/partial']) await mkdir(join(this.dir, sub), { recursive: true });
    if (!existsSync(join(this.dir, 'status'))) await writeFile(join(this.dir, 'status'), '');
    const stanzas = this.sources.map((s) =>
      [
        'Types: deb',
        `URIs: ${s.uri}`,
        `Suites: ${s.suites.join(' ')}`,
        'Components: main non-free-firmware',
        `Architectures: ${this.arch}`,
        `Signed-By: ${DEBIAN_KEYRING}`,
      ].join('\n'),
    );
    await writeFile(join(this.dir, 'sources', 'picluster.sources'), stanzas.join('\n\n') + '\n');
  }

  /** Age of the package lists in ms, or undefined when there are none yet. */
  async listsAgeMs(now: number = Date.now()): Promise<number | undefined> {
    const lists = join(this.dir, 'lists');
    if (!existsSync(lists)) return undefined;
    const names = (await readdir(lists)).filter((n) => n.endsWith('_Packages') || n.endsWith('InRelease'));
    if (!names.some((n) => n.endsWith('_Packages'))) return undefined;
    const mtimes = await Promise.all(names.map(async (n) => (await stat(join(lists, n))).mtimeMs));
    return now - Math.min(...mtimes);
  }

  /**
   * `apt-get update` unless the lists are younger than maxAgeMs. When the archive cannot be
   * reached but lists exist, the build goes on with them (returns 'stale'); with no lists
   * at all it throws RegistryUnreachableError.
   */
  async update(maxAgeMs: number): Promise<'fresh' | 'updated' | 'stale'> {
    await this.prepare();
    const age = await this.listsAgeMs();
    if (age !== undefined && age < maxAgeMs) return 'fresh';
    const r = await runRaw('apt-get', [...this.options(), '-q', 'update'], { step: 'apt-get update', writes: this.dir });
    const failed = r.code !== 0 || /^(W|E): (Failed to fetch|Some index files failed)/m.test(r.stderr);
    if (!failed) return 'updated';
    if (/No space left/i.test(r.stderr)) throw new DiskFullError(this.dir);
    if (age !== undefined) return 'stale';
    throw new RegistryUnreachableError(REGISTRY, lastLines(r));
  }

  /** Candidate versions of the named packages (one apt-cache call). */
  async show(packages: readonly string[]): Promise<Map<string, DebInfo>> {
    const r = await runRaw('apt-cache', [...this.options(), 'show', '--no-all-versions', ...packages], { step: 'apt-cache show' });
    const found = new Map<string, DebInfo>();
    for (const block of r.stdout.split(/\n\n+/)) {
      const f = parseControl(block);
      const name = f.get('Package');
      if (!name) continue;
      found.set(name, {
        package: name,
        version: f.get('Version') ?? '',
        architecture: f.get('Architecture') ?? '',
        filename: f.get('Filename') ?? '',
        sha256: f.get('SHA256') ?? '',
        size: Number(f.get('Size') ?? 0),
        depends: f.get('Depends') ?? '',
      });
    }
    for (const p of packages) {
      if (!found.has(p)) throw new PackageMissingError(REGISTRY, `${p} (${this.arch})`, 'not in bookworm main/non-free-firmware');
    }
    return found;
  }

  /**
   * Resolves a metapackage such as `linux-image-arm64` to the concrete package it depends
   * on (`linux-image-6.1.0-NN-arm64`): the mirror keeps only the newest, so this is done
   * at build time and recorded in the manifest.
   */
  async resolveMeta(meta: string, prefix: string): Promise<string> {
    const info = (await this.show([meta])).get(meta) as DebInfo;
    const dep = info.depends
      .split(',')
      .map((d) => d.trim().split(/\s/)[0] ?? '')
      .find((d) => d.startsWith(prefix));
    if (!dep) throw new PackageMissingError(REGISTRY, meta, `no dependency starting with ${prefix}`);
    return dep;
  }

  /**
   * The packages `apt-get install <packages>` would add (no recommends) to a system that has
   * only `installed` (a private dpkg status file; nothing is installed). A name apt cannot find
   * is a PackageMissingError naming it.
   */
  async simulateInstall(packages: readonly string[], installed: readonly DebInfo[]): Promise<SimulatedInstall[]> {
    await this.prepare();
    const status = join(this.dir, 'status-layer');
    await writeFile(status, installedStatus(installed));
    const r = await runRaw(
      'apt-get',
      [
        ...this.options(),
        '-o',
        `Dir::State::status=${status}`,
        '-o',
        'APT::Install-Recommends=false',
        '-o',
        'APT::Install-Suggests=false',
        '-q',
        '-s',
        'install',
        ...packages,
      ],
      { step: 'apt-get -s install' },
    );
    const unknown = unknownPackages(r.stderr);
    if (unknown.length) throw new PackageMissingError(REGISTRY, `${unknown.join(', ')} (${this.arch})`, 'not in bookworm main/non-free-firmware');
    if (r.code !== 0) throw new PackageMissingError(REGISTRY, packages.join(' '), `apt cannot resolve the dependencies: ${lastLines(r)}`);
    return parseSimulatedInstall(r.stdout);
  }

  /** Downloads (or reuses from debDir) each package's candidate .deb, verifying SHA256. */
  async download(infos: readonly DebInfo[], debDir: string): Promise<DownloadedDeb[]> {
    await mkdir(debDir, { recursive: true });
    const out: DownloadedDeb[] = [];
    const missing: DebInfo[] = [];
    for (const info of infos) {
      const path = join(debDir, debFileName(info));
      if (existsSync(path)) {
        const actual = await verifiedSha256(path);
        if (actual === info.sha256) {
          out.push({ ...info, path, cached: true });
          continue;
        }
        await rm(path);
      }
      missing.push(info);
    }
    if (missing.length > 0) {
      const tmp = join(debDir, '.partial');
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      const specs = missing.map((i) => `${i.package}=${i.version}`);
      const r = await runRaw('apt-get', [...this.options(), '-q', 'download', ...specs], { step: 'apt-get download', cwd: tmp, writes: debDir });
      if (r.code !== 0) {
        if (/No space left/i.test(r.stderr + r.stdout)) throw new DiskFullError(debDir);
        if (/Hash Sum mismatch|Hashes of expected file/i.test(r.stderr))
          throw new IntegrityMismatchError(specs.join(' '), 'Packages index SHA256', 'a different file');
        if (/Unable to locate|Can't find a source|has no installation candidate|not found/i.test(r.stderr)) {
          throw new PackageMissingError(REGISTRY, specs.join(' '), lastLines(r));
        }
        throw new RegistryUnreachableError(REGISTRY, lastLines(r));
      }
      const files = await readdir(tmp);
      for (const info of missing) {
        const got = files.find((f) => f.startsWith(`${info.package}_`) && f.endsWith('.deb'));
        if (!got) throw new PackageMissingError(REGISTRY, info.package, 'apt-get download produced no file');
        const path = join(debDir, debFileName(info));
        const actual = await sha256File(join(tmp, got));
        if (actual !== info.sha256) throw new IntegrityMismatchError(`${info.package} ${info.version}`, info.sha256, actual);
        await rename(join(tmp, got), path);
        await rememberSha256(path, actual);
        out.push({ ...info, path, cached: false });
      }
      await rm(tmp, { recursive: true, force: true });
    }
    const order = new Map(infos.map((i, n) => [i.package, n]));
    return out.sort((a, b) => (order.get(a.package) ?? 0) - (order.get(b.package) ?? 0));
  }
}

export function debFileName(info: Pick<DebInfo, 'package' | 'version' | 'architecture'>): string {
  return `${info.package}_${info.version.replace(/:/g, '%3a')}_${info.architecture}.deb`;
}

/** Parses one RFC 822-style control stanza (continuation lines are joined). */
export function parseControl(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of block.split('\n')) {
    if (/^\s/.test(line) && last) fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
    else {
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1] as string;
        fields.set(last, m[2] as string);
      }
    }
  }
  return fields;
}

function lastLines(r: RunResult): string {
  return `${r.stderr}\n${r.stdout}`.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
}

/** Unpacks a .deb's data into dir (dpkg-deb -x: no maintainer scripts run). */
export async function extractDeb(deb: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('dpkg-deb', ['-x', deb, dir], { step: 'extract deb', writes: dir });
}

/**
 * sha256 of a cached file, rehashed only when its size or mtime differ from what a sidecar
 * `<file>.sha256` recorded (a warm build then skips hashing ~65 MB of debs).
 */
async function verifiedSha256(path: string): Promise<string> {
  const st = await stat(path);
  const stamp = `${st.size} ${Math.trunc(st.mtimeMs)}`;
  const sidecar = await readFile(`${path}.sha256`, 'utf8').catch(() => '');
  const [hash, ...rest] = sidecar.trim().split(' ');
  if (hash && rest.join(' ') === stamp) return hash;
  const actual = await sha256File(path);
  await writeFile(`${path}.sha256`, `${actual} ${stamp}\n`);
  return actual;
}

async function rememberSha256(path: string, hash: string): Promise<void> {
  const st = await stat(path);
  await writeFile(`${path}.sha256`, `${hash} ${st.size} ${Math.trunc(st.mtimeMs)}\n`);
}
