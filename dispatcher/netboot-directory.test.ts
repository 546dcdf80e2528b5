import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { ManualClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import { deriveNodeToken, verifyNodeToken } from '../common/tokens.ts';
import { buildInventory } from '../inventory/inventory.ts';
import { Dispatcher } from './dispatcher.ts';
import { confinedPath, registerBootRoutes } from './http/routes-boot.ts';
import { DispatcherNodeDirectory } from './netboot-directory.ts';
import { asyncStore } from './store/async-adapter.ts';
import { MemoryStore } from './store/memory-store.ts';
import { grubNodeConfigTemplate } from '../image/build/pxe-loaders.ts';

const SECRET = 'secret-0123456789abcdef0123';
let dir: string;
let dispatcher: Dispatcher;
let directory: DispatcherNodeDirectory;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-boot-'));
  mkdirSync(join(dir, 'pi'));
  mkdirSync(join(dir, 'amd64'));
  writeFileSync(join(dir, 'pi', 'cmdline.txt'), 'console=ttyS1 picluster.dispatcher={{dispatcherUrl}} picluster.name={{nodeName}} picluster.token={{token}}\n');
  writeFileSync(join(dir, 'amd64', 'boot.ipxe'), '#!ipxe\nkernel {{bootUrl}}/amd64/vmlinuz picluster.name={{nodeName}} picluster.token={{token}}\nboot\n');
  writeFileSync(join(dir, 'amd64', 'vmlinuz'), 'KERNEL');
  writeFileSync(join(tmpdir(), 'picluster-outside-secret'), 'SECRET');
  dispatcher = new Dispatcher({
    store: asyncStore(new MemoryStore()),
    clock: new ManualClock(),
    log: silentLogger(),
    clusterSecret: SECRET,
    inventory: buildInventory({
      nodes: [
        { name: 'node6.lan', mac: 'b8:27:eb:10:00:06', serial: '89eb9bb9', model: 'pi3b+' },
        { name: 'x1', mac: '52:54:00:00:00:01', model: 'x86-64' },
      ],
    }),
    scheduler: {
      strategy: 'round-robin',
      heartbeatMs: 1000,
      missedHeartbeats: 3,
      restartGraceMs: 0,
      defaultRetries: 0,
      retryBackoffMs: 0,
      retryBackoffMaxMs: 0,
      outputLimitBytes: 1024,
    },
  });
  await dispatcher.start();
  directory = new DispatcherNodeDirectory({
    dispatcher,
    clusterSecret: SECRET,
    dispatcherUrl: () => 'ws://10.0.0.1:8080/agent',
    bootUrl: () => 'http://10.0.0.1:8080/boot',
    tftpRoot: join(dir, 'pi'),
    httpRoot: dir,
  });
});

describe('netboot directory', () => {
  it('finds inventory nodes by MAC and serial', async () => {
    expect(directory.findByMac('b8:27:eb:10:00:06')).toMatchObject({ name: 'node6.lan', serial: '89eb9bb9', approved: true });
    expect(directory.findBySerial('89eb9bb9')?.name).toBe('node6.lan');
    expect(directory.findByMac('aa:aa:aa:aa:aa:aa')).toBeUndefined();
  });

  it("renders a node's cmdline.txt from the image template with its own token", async () => {
    const text = directory.renderNodeFile(directory.findByMac('b8:27:eb:10:00:06')!, 'cmdline.txt')!.toString();
    expect(text).toContain('picluster.dispatcher=ws://10.0.0.1:8080/agent picluster.name=node6.lan');
    const token = /picluster\.token=(\S+)/.exec(text)![1]!;
    expect(verifyNodeToken(SECRET, 'node6.lan', token)).toBe(true);
    expect(directory.renderNodeFile(directory.findByMac('b8:27:eb:10:00:06')!, 'config.txt')).toBeUndefined();
  });

  it('with TLS, cmdline.txt also carries the pin and the plain /boot URL', async () => {
    const pin = `sha256:${'ab'.repeat(32)}`;
    const tlsDir = new DispatcherNodeDirectory({
      dispatcher,
      clusterSecret: SECRET,
      dispatcherUrl: () => 'wss://10.0.0.1:8080/agent',
      bootUrl: () => 'http://10.0.0.1:8081/boot',
      tlsPin: () => pin,
      tftpRoot: join(dir, 'pi'),
      httpRoot: dir,
    });
    const text = tlsDir.renderNodeFile(tlsDir.findByMac('b8:27:eb:10:00:06')!, 'cmdline.txt')!.toString();
    expect(text).toMatch(new RegExp(`picluster\\.token=\\S+ picluster\\.tlspin=${pin} picluster\\.boot=http://10\\.0\\.0\\.1:8081/boot`));
    expect(text).toContain('picluster.dispatcher=wss://10.0.0.1:8080/agent');
    expect(directory.renderNodeFile(directory.findByMac('b8:27:eb:10:00:06')!, 'cmdline.txt')!.toString()).not.toContain('tlspin');
  });

  it("renders an arm64 UEFI node's grub.cfg from the image's template, and nothing without one", async () => {
    const node = directory.findByMac('52:54:00:00:00:01')!;
    expect(directory.renderNodeFile(node, 'grub.cfg')).toBeUndefined();
    writeFileSync(join(dir, 'pi', 'grub.cfg'), grubNodeConfigTemplate('v1'));
    const text = directory.renderNodeFile(node, 'grub.cfg')!.toString();
    expect(text).toMatch(/^linux \(tftp\)\/kernel8\.img .*picluster\.dispatcher=ws:\/\/10\.0\.0\.1:8080\/agent picluster\.name=x1 picluster\.token=\S+$/m);
    expect(verifyNodeToken(SECRET, 'x1', /picluster\.token=(\S+)/.exec(text)![1]!)).toBe(true);
    expect(text).toContain('initrd (tftp)/initramfs8');
    expect(text).not.toContain('{{');
  });

  it('records unknown PXE clients as pending approval and serves them nothing', async () => {
    directory.enroll({ mac: 'dc:a6:32:01:02:03', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' });
    directory.enroll({ mac: 'dc:a6:32:01:02:03' });
    const pending = directory.findByMac('dc:a6:32:01:02:03')!;
    expect(pending).toMatchObject({ name: 'pending-dca632010203', approved: false });
    expect(dispatcher.getNode('pending-dca632010203').state).toBe('pending-approval');
    expect(directory.renderNodeFile(pending, 'cmdline.txt')).toBeUndefined();
    expect((await dispatcher.nodeEvents('pending-dca632010203'))[0]).toMatchObject({ kind: 'enroll', actor: 'netboot' });
  });

  it('fills the iPXE script for a known x86 node only', async () => {
    expect(directory.ipxeScript('52:54:00:00:00:01')).toContain(
      `kernel http://10.0.0.1:8080/boot/amd64/vmlinuz picluster.name=x1 picluster.token=${deriveNodeToken(SECRET, 'x1')}`,
    );
    expect(directory.ipxeScript('52:54:00:00:00:99')).toBeUndefined();
  });
});

describe('/boot routes', () => {
  let app: FastifyInstance;
  afterEach(() => app?.close());

  it('confines paths to the root', async () => {
    symlinkSync(join(tmpdir(), 'picluster-outside-secret'), join(dir, 'escape'));
    expect(confinedPath(dir, 'amd64/vmlinuz')).toBe(join(dir, 'amd64', 'vmlinuz'));
    for (const bad of ['../picluster-outside-secret', 'amd64/../../picluster-outside-secret', 'escape', 'a\0b', 'amd64\\vmlinuz'])
      expect(confinedPath(dir, bad)).toBeUndefined();
  });

  it('serves image files and iPXE scripts, and records each fetch as a boot event', async () => {
    app = Fastify();
    registerBootRoutes(app, dispatcher, { root: dir, directory });
    const k = await app.inject({ url: '/boot/amd64/vmlinuz' });
    expect(k.statusCode).toBe(200);
    expect(k.body).toBe('KERNEL');
    expect((await app.inject({ url: '/boot/../../etc/passwd' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/boot/%2e%2e/%2e%2e/etc/passwd' })).statusCode).toBe(404);
    const s = await app.inject({ url: '/boot/ipxe?mac=52-54-00-00-00-01' });
    expect(s.statusCode).toBe(200);
    expect(s.body).toMatch(/^#!ipxe/);
    const unknown = await app.inject({ url: '/boot/ipxe?mac=52:54:00:00:00:99' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toContain('no boot script');
    const events = await dispatcher.bootEvents({ node: 'x1' });
    expect(events[0]).toMatchObject({ kind: 'http-fetch', outcome: 'answered', detail: { file: 'ipxe' } });
  });
});
