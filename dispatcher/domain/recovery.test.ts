import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RECOVERY,
  breakerOpen,
  decideRecovery,
  isPoison,
  startLadder,
  type LadderObservation,
  type LadderState,
  type RecoveryPolicy,
} from './recovery.ts';

const policy: RecoveryPolicy = {
  ...DEFAULT_RECOVERY,
  graceMs: 1000,
  rebootTimeoutMs: 5000,
  bootTimeoutMs: 10_000,
  expectBootEvent: true,
  maxCycles: 2,
  windowMs: 60_000,
};
const obs = (now: number, o: Partial<LadderObservation> = {}): LadderObservation => ({
  now,
  agentConnected: false,
  helloSince: false,
  bootEventSince: false,
  canPowerCycle: true,
  breakerOpen: false,
  ...o,
});

/** Runs the ladder over a timeline of observations, returning the actions taken (waits omitted). */
function run(timeline: LadderObservation[], p = policy, start: LadderState = startLadder(0)): string[] {
  let s = start;
  const out: string[] = [];
  for (const o of timeline) {
    const d = decideRecovery(s, o, p);
    s = d.next;
    if (d.action.kind !== 'wait') out.push(`${o.now}:${d.action.kind}${'reason' in d.action ? `(${d.action.reason.split(' ')[0]})` : ''}`);
    out.push(`${o.now}=${s.step}`);
  }
  return out.filter((x) => !x.includes('=') || true);
}

const steps = (t: string[]) => t.filter((x) => x.includes(':'));

describe('recovery ladder', () => {
  it.each<[string, LadderObservation[], string[], Partial<RecoveryPolicy>?]>([
    ['waits out the grace, then power-cycles a silent node', [obs(500), obs(1000)], ['1000:power-cycle']],
    ['a node back within the grace needs nothing', [obs(500, { helloSince: true })], ['500:recovered']],
    [
      'tries an agent reboot first when the agent still answers',
      [obs(1000, { agentConnected: true }), obs(2000, { agentConnected: true }), obs(6000)],
      ['1000:agent-reboot', '6000:power-cycle'],
    ],
    [
      'an agent reboot that brings it back ends the ladder',
      [obs(1000, { agentConnected: true }), obs(3000, { helloSince: true })],
      ['1000:agent-reboot', '3000:recovered'],
    ],
    [
      'after a cycle: boot event, then hello = recovered',
      [obs(1000), obs(4000, { bootEventSince: true }), obs(9000, { helloSince: true })],
      ['1000:power-cycle', '9000:recovered'],
    ],
    ['no DHCP within bootTimeoutMs: the cycle failed, cycle again', [obs(1000), obs(10_999), obs(11_000)], ['1000:power-cycle', '11000:power-cycle']],
    [
      'booted but no hello within bootTimeoutMs: cycle again',
      [obs(1000), obs(2000, { bootEventSince: true }), obs(12_000)],
      ['1000:power-cycle', '12000:power-cycle'],
    ],
    [
      'quarantine after maxCycles failed cycles in the window',
      [obs(1000), obs(11_000), obs(21_000), obs(30_000)],
      ['1000:power-cycle', '11000:power-cycle', '21000:quarantine(2)'],
    ],
    ['no driver that can cycle: alert a human', [obs(1000, { canPowerCycle: false })], ['1000:alert(no)']],
    ['breaker open: alert instead of cycling', [obs(1000, { breakerOpen: true })], ['1000:alert(circuit)']],
    [
      'without netboot, the hello alone is awaited',
      [obs(1000), obs(2000), obs(3000, { helloSince: true })],
      ['1000:power-cycle', '3000:recovered'],
      { expectBootEvent: false },
    ],
    ['disabled: nothing happens', [obs(1000), obs(100_000)], [], { enabled: false }],
  ])('%s', (_name, timeline, want, override) => {
    expect(steps(run(timeline, { ...policy, ...override }))).toEqual(want);
  });

  it('forgets failed cycles older than the window', () => {
    const s: LadderState = { step: 'grace', since: 0, failedCycles: [1000, 2000], triedAgentReboot: true };
    expect(decideRecovery(s, obs(1000), policy).action.kind).toBe('quarantine');
    expect(decideRecovery(s, obs(62_500), policy).action.kind).toBe('power-cycle');
  });

  it('stays quarantined', () => {
    const s: LadderState = { step: 'quarantined', since: 0, failedCycles: [1, 2], triedAgentReboot: true };
    expect(decideRecovery(s, obs(1_000_000, { helloSince: true }), policy).action.kind).toBe('wait');
  });
});

describe('circuit breaker and poison guard', () => {
  it.each([
    [0, 10, false],
    [4, 10, false],
    [5, 10, true],
    [1, 2, false], // below minNodes
    [2, 2, true],
    [0, 0, false],
  ])('%i lost of %i managed → open=%s', (lost, managed, open) => {
    expect(breakerOpen(lost, managed, { fraction: 0.5, minNodes: 2 })).toBe(open);
  });
  it.each([
    [2, 3, false],
    [3, 3, true],
    [9, 0, false],
  ])('%i node losses, limit %i → poison=%s', (n, k, want) => expect(isPoison(n, k)).toBe(want));
});
