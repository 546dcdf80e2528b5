/**
 * Static checks of the BR2_EXTERNAL tree, without a Buildroot download: the tree's own files
 * (external.desc, Config.in, external.mk), the defconfigs (only $(BR2_EXTERNAL_PICLUSTER_PATH)
 * paths, the options the image depends on, consistency with board.json and build-image's
 * layout), the package's Buildroot conventions and .hash, and shellcheck on every script.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../image/build/hash.ts';
import { NODE_PTY } from '../image/build/inputs.ts';
import { loadBoard } from './support/board.ts';
import { boardBootFiles } from './support/boot-dir.ts';
import { kernelCommit, parseKconfig } from './support/kconfig.ts';
import { EXTERNAL_DIR, REPO_DIR } from './support/state.ts';

const read = (rel: string): string => readFileSync(join(EXTERNAL_DIR, rel), 'utf8');
const EXT = '$(BR2_EXTERNAL_PICLUSTER_PATH)';
const DEFCONFIGS = readdirSync(join(EXTERNAL_DIR, 'configs')).sort();
const PACKAGES = readdirSync(join(EXTERNAL_DIR, 'package')).sort();

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'output' ? [] : walk(join(dir, e.name))) : [join(dir, e.name)],
  );
}

describe('BR2_EXTERNAL tree', () => {
  it('external.desc names the tree PICLUSTER', () => {
    const lines = read('external.desc').trim().split('\n');
    expect(lines[0]).toBe('name: PICLUSTER');
    expect(lines[1]).toMatch(/^desc: \S/);
  });

  it('Config.in sources every package, and external.mk includes every package .mk, by the tree path', () => {
    const sourced = [...read('Config.in').matchAll(/^source "\$BR2_EXTERNAL_PICLUSTER_PATH\/package\/([^/]+)\/Config\.in"$/gm)].map((m) => m[1]);
    expect(sourced.sort()).toEqual(PACKAGES);
    expect(read('external.mk').trim()).toBe(`include $(sort $(wildcard ${EXT}/package/*/*.mk))`);
    expect(DEFCONFIGS).toEqual(['picluster_rpi3_64_defconfig', 'picluster_rpi4_64_defconfig', 'picluster_rpi5_defconfig']);
  });
});

/** Options whose value is a download location or a name inside the kernel tree, not a path here. */
const NOT_PATHS_HERE = new Set(['BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION', 'BR2_LINUX_KERNEL_INTREE_DTS_NAME']);
/** rpi-firmware option that installs each firmware file (package/rpi-firmware/rpi-firmware.mk). */
const FIRMWARE_OPTION: Record<string, string> = {
  'bootcode.bin': 'BR2_PACKAGE_RPI_FIRMWARE_BOOTCODE_BIN',
  'start.elf': 'BR2_PACKAGE_RPI_FIRMWARE_VARIANT_PI',
  'start_cd.elf': 'BR2_PACKAGE_RPI_FIRMWARE_VARIANT_PI_CD',
  'start4.elf': 'BR2_PACKAGE_RPI_FIRMWARE_VARIANT_PI4',
  'start4cd.elf': 'BR2_PACKAGE_RPI_FIRMWARE_VARIANT_PI4_CD',
};
/** Drivers each Pi family's NIC needs built in (board/picluster/<board>/linux.fragment). */
const NIC: Record<string, readonly string[]> = {
  pi3: ['CONFIG_USB_NET_SMSC95XX', 'CONFIG_USB_LAN78XX', 'CONFIG_USB_USBNET'],
  pi4: ['CONFIG_BCMGENET', 'CONFIG_BROADCOM_PHY'],
  pi5: ['CONFIG_MFD_RP1', 'CONFIG_MACB', 'CONFIG_PCIE_BRCMSTB'],
};
const COMMON_BUILTIN = [
  'CONFIG_BCM2835_WDT',
  'CONFIG_WATCHDOG',
  'CONFIG_SQUASHFS',
  'CONFIG_SQUASHFS_ZSTD',
  'CONFIG_BLK_DEV_LOOP',
  'CONFIG_RD_LZ4',
  'CONFIG_BLK_DEV_INITRD',
];

describe.each(DEFCONFIGS)('%s', (defconfig) => {
  const text = read(`configs/${defconfig}`);
  const k = parseKconfig(text);
  const v = (s: string): string | undefined => k.values.get(s);
  const board = /--board (\S+)/.exec(v('BR2_ROOTFS_POST_SCRIPT_ARGS') ?? '')?.[1] ?? '';

  it('is well-formed: BR2_ lines, comments, no symbol twice', () => {
    expect(k.malformed).toEqual([]);
    expect(k.duplicates).toEqual([]);
  });

  it('references only $(BR2_EXTERNAL_PICLUSTER_PATH) paths, and each exists', () => {
    const bad: string[] = [];
    for (const [sym, value] of k.values) {
      if (NOT_PATHS_HERE.has(sym)) continue;
      for (const token of value.split(/\s+/).filter((t) => t.includes('/') || t.includes('$('))) {
        if (!token.startsWith(`${EXT}/`)) bad.push(`${sym}: ${token} is not under ${EXT}`);
        else if (!existsSync(join(EXTERNAL_DIR, token.slice(EXT.length + 1)))) bad.push(`${sym}: ${token} does not exist`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('builds an lz4 cpio initramfs with busybox, nodejs, node-pty and the agent, and runs the board scripts', () => {
    expect(v('BR2_TARGET_ROOTFS_CPIO')).toBe('y');
    expect(v('BR2_TARGET_ROOTFS_CPIO_LZ4')).toBe('y');
    expect(k.unset.has('BR2_PACKAGE_BUSYBOX')).toBe(false); // on by default
    expect(v('BR2_INIT_NONE')).toBe('y');
    expect(v('BR2_TOOLCHAIN_BUILDROOT_GLIBC')).toBe('y');
    expect(v('BR2_TOOLCHAIN_BUILDROOT_CXX')).toBe('y');
    expect(v('BR2_PACKAGE_NODEJS')).toBe('y');
    expect(v('BR2_PACKAGE_OPENSSL')).toBe('y');
    // the node-pty version build-image pins (image/build/inputs.ts)
    expect(v('BR2_PACKAGE_NODEJS_MODULES_ADDITIONAL')).toBe(`${NODE_PTY.name}@${NODE_PTY.version}`);
    expect(v('BR2_PACKAGE_PICLUSTER_AGENT')).toBe('y');
    for (const step of ['BUILD', 'FAKEROOT', 'IMAGE']) {
      expect(v(`BR2_ROOTFS_POST_${step}_SCRIPT`)).toBe(`${EXT}/board/picluster/common/post-${step.toLowerCase()}.sh`);
    }
    expect(existsSync(join(EXTERNAL_DIR, 'board', 'picluster', board, 'board.json'))).toBe(true);
    expect(defconfig).toBe(`picluster_${board}${board === 'rpi5' ? '' : '_64'}_defconfig`);
  });

  it('builds the Raspberry Pi kernel at a pinned commit, with the NIC drivers and watchdog built in', async () => {
    expect(v('BR2_LINUX_KERNEL')).toBe('y');
    expect(v('BR2_LINUX_KERNEL_CUSTOM_TARBALL')).toBe('y');
    const commit = kernelCommit(v('BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION'));
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(v('BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION')).toBe(`$(call github,raspberrypi,linux,${commit})/linux-${commit}.tar.gz`);
    const fragments = (v('BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES') ?? '').split(/\s+/);
    expect(fragments).toEqual([`${EXT}/board/picluster/common/linux.fragment`, `${EXT}/board/picluster/${board}/linux.fragment`]);
    const merged = fragments.map((f) => readFileSync(join(EXTERNAL_DIR, f.slice(EXT.length + 1)), 'utf8')).join('\n');
    const builtin = new Set([...merged.matchAll(/^(CONFIG_\w+)=y$/gm)].map((m) => m[1]));
    const spec = await loadBoard(EXTERNAL_DIR, board);
    const want = [...COMMON_BUILTIN, ...spec.families.flatMap((f) => NIC[f] ?? [])];
    expect(want.filter((c) => !builtin.has(c))).toEqual([]);
    expect(merged).not.toMatch(/^CONFIG_\w+=m$/m);
  });

  it('installs exactly the device trees board.json names and the firmware its pi/ directory holds', async () => {
    const spec = await loadBoard(EXTERNAL_DIR, board);
    expect(v('BR2_LINUX_KERNEL_DTS_SUPPORT')).toBe('y');
    const dts = (v('BR2_LINUX_KERNEL_INTREE_DTS_NAME') ?? '').split(/\s+/);
    expect(dts.every((d) => d.startsWith('broadcom/'))).toBe(true);
    expect(dts.map((d) => `${basename(d)}.dtb`)).toEqual(spec.dtbs);
    const firmware = boardBootFiles(spec).filter((f) => f.role === 'firmware' && !f.name.startsWith('fixup'));
    for (const f of firmware) {
      const option = FIRMWARE_OPTION[f.name];
      expect(option, `an rpi-firmware option for ${f.name}`).toBeDefined();
      expect(v(option as string), option).toBe('y');
    }
    expect(v('BR2_PACKAGE_RPI_FIRMWARE')).toBe(firmware.length ? 'y' : undefined);
  });

  it('pins the Buildroot version and kernel the README states', () => {
    const readme = read('README.md');
    const version = /Buildroot (\d{4}\.\d{2}\.\d+) \(LTS\)/.exec(text)?.[1];
    expect(version).toBeDefined();
    expect(readme).toContain(`Buildroot ${version}`);
    expect(readme).toContain(kernelCommit(v('BR2_LINUX_KERNEL_CUSTOM_TARBALL_LOCATION')) as string);
  });
});

describe.each(PACKAGES)('package/%s', (pkg) => {
  const PREFIX = pkg.toUpperCase().replace(/-/g, '_');
  const mk = read(`package/${pkg}/${pkg}.mk`);
  const assigned = [...mk.matchAll(/^([A-Za-z0-9_]+)\s*(?:\+=|:=|\?=|=)/gm)].map((m) => m[1] as string);
  const defined = [...mk.matchAll(/^define\s+(\S+)$/gm)].map((m) => m[1] as string);
  const value = (name: string): string | undefined => new RegExp(`^${PREFIX}_${name}\\s*=\\s*(.*)$`, 'm').exec(mk)?.[1];

  it("has Buildroot's header and ends with $(eval $(generic-package))", () => {
    const bar = '#'.repeat(80);
    expect(mk.split('\n').slice(0, 5)).toEqual([bar, '#', `# ${pkg}`, '#', bar]);
    const lines = mk.trim().split('\n');
    expect(lines[lines.length - 1]).toBe('$(eval $(generic-package))');
    expect(mk.match(/\$\(eval \$\(/g)).toHaveLength(1);
  });

  it(`prefixes every variable with ${PREFIX}_ and sets the mandatory ones`, () => {
    expect([...assigned, ...defined].filter((n) => !n.startsWith(`${PREFIX}_`))).toEqual([]);
    for (const n of ['VERSION', 'SITE', 'SITE_METHOD', 'LICENSE', 'LICENSE_FILES']) expect(assigned, n).toContain(`${PREFIX}_${n}`);
    expect(defined).toContain(`${PREFIX}_INSTALL_TARGET_CMDS`);
    for (const body of mk.matchAll(/^define \S+\n([\s\S]*?)^endef$/gm)) {
      for (const line of (body[1] as string).split('\n').filter(Boolean)) expect(line, 'define bodies are tab-indented').toMatch(/^\t/);
    }
  });

  it('builds from this checkout at its package.json version', () => {
    expect(value('SITE')).toBe(`${EXT}/..`);
    expect(value('SITE_METHOD')).toBe('local');
    const pkgJson = JSON.parse(readFileSync(join(REPO_DIR, 'package.json'), 'utf8')) as { version: string; license: string };
    expect(value('VERSION')).toBe(pkgJson.version);
    expect(value('LICENSE')).toBe(pkgJson.license);
    expect(value('DEPENDENCIES')?.split(/\s+/)).toEqual(expect.arrayContaining(['busybox', 'nodejs']));
  });

  it('calls only build steps support/run.mjs has', () => {
    const steps = [...read('support/run.mjs').matchAll(/^\s+'([a-z-]+)': '\.\/[a-z-]+\.ts',$/gm)].map((m) => m[1]);
    const called = [...mk.matchAll(/run\.mjs \\?\s*([a-z-]+)/g)].map((m) => m[1]);
    expect(called.length).toBeGreaterThan(0);
    for (const c of called) expect(steps).toContain(c);
    for (const s of ['post-build', 'post-fakeroot', 'post-image']) expect(read(`board/picluster/common/${s}.sh`)).toContain(`run.mjs" ${s} "$@"`);
  });

  it("has a Config.in in Buildroot's form", () => {
    const cfg = read(`package/${pkg}/Config.in`);
    expect(cfg.split('\n').slice(0, 2)).toEqual([`config BR2_PACKAGE_${PREFIX}`, `\tbool "${pkg}"`]);
    expect(cfg).toMatch(/^\thelp\n(\t {2}\S.*\n|\n)+/m);
  });

  it('has well-formed .hash entries for every license file, matching the files', () => {
    const entries = read(`package/${pkg}/${pkg}.hash`)
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'));
    const LEN: Record<string, number> = { md5: 32, sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128 };
    const files = new Map<string, string>();
    for (const line of entries) {
      const m = /^(md5|sha1|sha224|sha256|sha384|sha512) {2}([0-9a-f]+) {2}(\S+)$/.exec(line);
      expect(m, `entry "${line}"`).not.toBeNull();
      expect(m?.[2]).toHaveLength(LEN[m?.[1] as string] as number);
      if (m?.[1] === 'sha256') files.set(m[3] as string, m[2] as string);
    }
    for (const f of (value('LICENSE_FILES') ?? '').split(/\s+/)) {
      expect(files.get(f), `sha256 of ${f}`).toBe(sha256(readFileSync(join(REPO_DIR, f))));
    }
  });
});

describe('scripts', () => {
  const scripts = walk(EXTERNAL_DIR).filter((f) => f.endsWith('.sh'));
  const hasShellcheck = !spawnSync('shellcheck', ['--version'], { stdio: 'ignore' }).error;

  it('are executable (Buildroot runs them directly)', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(3);
    for (const s of scripts) expect(statSync(s).mode & 0o111, relative(EXTERNAL_DIR, s)).toBe(0o111);
  });

  it.skipIf(!hasShellcheck)('pass shellcheck (skipped where shellcheck is absent; .ci/packages.txt installs it)', () => {
    const r = spawnSync('shellcheck', ['--severity=style', ...scripts], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
