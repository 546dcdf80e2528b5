import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { PROTOCOL_VERSION, type DispatcherMessage } from '../../common/protocol.ts';
import { deriveNodeToken } from '../../common/tokens.ts';
import { Dispatcher } from '../dispatcher.ts';
import type { AgentLink } from '../node-runtime.ts';
import { asyncStore } from '../store/async-adapter.ts';
import { MemoryStore } from '../store/memory-store.ts';
import { bootReportEvents, kernelLogText, type BootReportFrame } from './boot-report.ts';

const SECRET = 'test-cluster-secret-0123456789';
const BOOTED = 1_767_000_000_000;

const report = (bootId: string): BootReportFrame => ({
  type: 'boot-report',
  bootId,
  bootedAt: BOOTED,
  milestones: [
    { step: 'kernel-start', uptimeMs: 0, detail: { text: 'Booting Linux' } },
    { step: 'dhcp-lease', uptimeMs: 6021.334, detail: { ip: '10.0.0.7' } },
    { step: 'runtime-mismatch', uptimeMs: 9000, detail: { outcome: 'error' } },
  ],
  kernelLog: [
    { uptimeMs: 0, level: 6, text: 'Booting Linux' },
    { uptimeMs: 1234.5678, level: 3, text: 'dwc2 3f980000.usb: bad' },
  ],
  droppedLines: 2,
});

class Link implements AgentLink {
  sent: DispatcherMessage[] = [];
  send(m: DispatcherMessage): void {
    this.sent.push(m);
  }
  close(): void {}
}

describe('boot report → boot events', () => {
  it('one init-milestone per step at its wall-clock time, and the kernel log as dmesg text', async () => {
    const events = bootReportEvents({ name: 'arm1', mac: '52:54:00:00:00:0a' }, report('b1'));
    expect(events.map((e) => [e.kind, e.at, e.outcome, e.detail?.step])).toEqual([
      ['init-milestone', BOOTED, 'ok', 'kernel-start'],
      ['init-milestone', BOOTED + 6021, 'ok', 'dhcp-lease'],
      ['init-milestone', BOOTED + 9000, 'error', 'runtime-mismatch'],
      ['kernel-log', BOOTED, 'complete', undefined],
    ]);
    expect(events[1]).toMatchObject({ node: 'arm1', mac: '52:54:00:00:00:0a', detail: { ip: '10.0.0.7', bootId: 'b1', uptimeMs: 6021 } });
    expect(events[3]?.detail).toMatchObject({ bootId: 'b1', lines: 2, droppedLines: 2 });
    expect(kernelLogText(report('b1'))).toBe('[    0.000000] Booting Linux\n[    1.234568] err: dwc2 3f980000.usb: bad');
  });

  it('the dispatcher records a boot report once per boot id, joined to the node', async () => {
    const store = new MemoryStore();
    const d = new Dispatcher({
      store: asyncStore(store),
      clock: new ManualClock(BOOTED + 30_000),
      log: silentLogger(),
      clusterSecret: SECRET,
      defer: (fn) => fn(),
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
    await d.start();
    const hello = (bootId: string, link: AgentLink) =>
      d.agentHello(
        {
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          token: deriveNodeToken(SECRET, 'arm1'),
          node: { name: 'arm1', cpus: 1, memoryMb: 512, arch: 'arm64', platform: 'linux', agentVersion: '0.1.0', bootId, mac: '52:54:00:00:00:0a' },
          running: [],
        },
        link,
      );
    const l1 = new Link();
    expect(hello('b1', l1)).toMatchObject({ ok: true });
    d.agentMessage('arm1', l1, report('b1'));
    await d.idle();
    // the agent restarted in the same boot: same report again
    const l2 = new Link();
    hello('b1', l2);
    d.agentMessage('arm1', l2, report('b1'));
    await d.idle();
    const kinds = async (boot: string) => (await d.bootEvents({ node: 'arm1' })).filter((e) => e.detail?.bootId === boot && e.kind !== 'agent-hello').length;
    expect(await kinds('b1')).toBe(4);
    // a new boot: a second timeline
    const l3 = new Link();
    hello('b2', l3);
    d.agentMessage('arm1', l3, report('b2'));
    await d.idle();
    expect(await kinds('b2')).toBe(4);
    const timeline = (await d.bootEvents({ node: 'arm1' }))
      .filter((e) => e.detail?.bootId === 'b2')
      .sort((a, b) => a.at - b.at)
      .map((e) => e.kind);
    expect(timeline.at(-1)).toBe('agent-hello');
    expect(timeline.filter((k) => k === 'init-milestone')).toHaveLength(3);
  });
});
