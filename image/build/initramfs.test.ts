import { describe, expect, it } from 'vitest';
import { decodeCpio } from './cpio.ts';
import { buildInitramfsCpio, ROOTFS_LAYOUT, type InitramfsInputs } from './initramfs.ts';

function inputs(overrides: Partial<InitramfsInputs> = {}): InitramfsInputs {
  return {
    arch: 'arm64',
    triplet: 'aarch64-linux-gnu',
    interpreter: { path: 'lib/ld-linux-aarch64.so.1', target: 'aarch64-linux-gnu/ld-linux-aarch64.so.1' },
    imageVersion: '0.1.0+abc',
    runtimeSha256: 'f'.repeat(64),
    busybox: Buffer.from('BUSYBOX'),
    libs: new Map([
      ['libc.so.6', Buffer.from('libc')],
      ['ld-linux-aarch64.so.1', Buffer.from('ld')],
    ]),
    rootfs: new Map(ROOTFS_LAYOUT.map((r) => [r.file, Buffer.from(`#!/bin/sh\n# ${r.file}\n`)])),
    kernelVersion: '6.1.0-1-arm64',
    modules: new Map([
      ['kernel/fs/squashfs/squashfs.ko', Buffer.from('ko')],
      ['kernel/drivers/net/mii.ko', Buffer.from('mii')],
    ]),
    modulesDep: 'kernel/drivers/net/mii.ko:\nkernel/fs/squashfs/squashfs.ko:\n',
    moduleGroups: { runtime: ['kernel/fs/squashfs/squashfs.ko'], virt: [] },
    ...overrides,
  };
}

describe('initramfs assembly', () => {
  it('is byte-identical for the same inputs, whatever the map order (reproducible)', () => {
    const a = buildInitramfsCpio(inputs(), 1_704_067_200);
    const reordered = inputs({
      libs: new Map([...inputs().libs].reverse()),
      modules: new Map([...inputs().modules].reverse()),
    });
    const b = buildInitramfsCpio(reordered, 1_704_067_200);
    expect(b.equals(a)).toBe(true);
  });

  it('changes when the epoch changes, and every member carries it', () => {
    const a = buildInitramfsCpio(inputs(), 1);
    const b = buildInitramfsCpio(inputs(), 2);
    expect(a.equals(b)).toBe(false);
    expect(new Set(decodeCpio(b).map((m) => m.mtime))).toEqual(new Set([2]));
  });

  it('holds /init, busybox, the console node, glibc, modules and the image identity', () => {
    const members = new Map(decodeCpio(buildInitramfsCpio(inputs(), 0)).map((m) => [m.path, m]));
    expect((members.get('init')?.mode ?? 0) & 0o777).toBe(0o755);
    expect(members.get('bin/sh')?.data.toString()).toBe('busybox');
    expect(members.get('dev/console')).toMatchObject({ type: 'chardev', rdevMajor: 5, rdevMinor: 1 });
    expect(members.get('lib/ld-linux-aarch64.so.1')?.data.toString()).toBe('aarch64-linux-gnu/ld-linux-aarch64.so.1');
    expect(members.has('lib/aarch64-linux-gnu/libc.so.6')).toBe(true);
    expect(members.has('lib/modules/6.1.0-1-arm64/kernel/fs/squashfs/squashfs.ko')).toBe(true);
    expect(members.get('lib/modules/6.1.0-1-arm64/modules.dep')?.data.toString()).toContain('squashfs.ko:');
    expect(members.get('etc/picluster/modules/runtime')?.data.toString()).toBe('kernel/fs/squashfs/squashfs.ko\n');
    expect(members.get('etc/picluster/image-version')?.data.toString()).toBe('0.1.0+abc\n');
    expect(members.get('etc/picluster/runtime.sha256')?.data.toString()).toBe(`${'f'.repeat(64)}\n`);
    expect(members.get('usr/libexec/picluster/agent-loop')).toBeDefined();
    expect(members.get('tmp')?.mode).toBe(0o041777);
    expect([...members.values()].every((m) => m.uid === 0 && m.gid === 0)).toBe(true);
  });
});
