/**
 * The recovery ladder for a lost node, as a pure decision: given where the node is on the
 * ladder and what has been observed, what to do next. The NodeLifecycle runs it on a timer
 * and carries out the action (agent reboot, power cycle, quarantine); nothing here does I/O
 * or reads a clock.
 *
 *   lost ─grace─▶ agent-reboot (if the agent still talks) ─▶ power-cycle ─▶ await-boot
 *        (DHCP/TFTP boot event within bootTimeoutMs, when netboot is expected) ─▶ await-hello
 *        (agent hello within bootTimeoutMs) ─▶ recovered
 *   a cycle that does not bring the node back counts as failed; after maxCycles failures
 *   within windowMs the node is quarantined and an alert is raised.
 */

export interface RecoveryPolicy {
  /** Automatic recovery on/off (maintenance nodes are never recovered automatically). */
  readonly enabled: boolean;
  /** Wait this long after `lost` before acting (the node may come back by itself). */
  readonly graceMs: number;
  /** After an agent reboot, how long to wait for the agent's hello. */
  readonly rebootTimeoutMs: number;
  /** After a power cycle, how long to wait for the boot (DHCP) and then the hello. */
  readonly bootTimeoutMs: number;
  /** Whether a DHCP/TFTP boot event is expected after a cycle (netboot on this master). */
  readonly expectBootEvent: boolean;
  /** Failed power cycles within `windowMs` before the node is quarantined. */
  readonly maxCycles: number;
  readonly windowMs: number;
}

export const DEFAULT_RECOVERY: RecoveryPolicy = {
  enabled: true,
  graceMs: 10_000,
  rebootTimeoutMs: 120_000,
  bootTimeoutMs: 180_000,
  expectBootEvent: false,
  maxCycles: 3,
  windowMs: 3_600_000,
};

export type LadderStep = 'grace' | 'agent-reboot' | 'await-boot' | 'await-hello' | 'quarantined';

export interface LadderState {
  readonly step: LadderStep;
  /** When the current step began. */
  readonly since: number;
  /** When each failed power cycle was given up on (kept within the window). */
  readonly failedCycles: readonly number[];
  /** Whether the agent reboot rung was already tried in this episode. */
  readonly triedAgentReboot: boolean;
}

export interface LadderObservation {
  readonly now: number;
  /** The agent is connected (it answers even though heartbeats were missed). */
  readonly agentConnected: boolean;
  /** The agent said hello after the current step began (the node is back). */
  readonly helloSince: boolean;
  /** A DHCP/TFTP boot event for the node arrived after the current step began. */
  readonly bootEventSince: boolean;
  /** The node's power driver can cycle it. */
  readonly canPowerCycle: boolean;
  /** The cluster-wide circuit breaker is open: no automatic power actions. */
  readonly breakerOpen: boolean;
}

export type LadderAction =
  | { readonly kind: 'wait' }
  | { readonly kind: 'agent-reboot' }
  | { readonly kind: 'power-cycle' }
  | { readonly kind: 'quarantine'; readonly reason: string }
  | { readonly kind: 'recovered'; readonly via: string }
  /** Nothing automatic can be done (no power driver, breaker open): tell a human once. */
  | { readonly kind: 'alert'; readonly reason: string };

export interface LadderDecision {
  readonly action: LadderAction;
  readonly next: LadderState;
}

export function startLadder(now: number, previous?: LadderState): LadderState {
  return { step: 'grace', since: now, failedCycles: previous?.failedCycles ?? [], triedAgentReboot: false };
}

const wait = (s: LadderState): LadderDecision => ({ action: { kind: 'wait' }, next: s });

/** One step of the ladder. Call it on every tick while the node is not back. */
export function decideRecovery(s: LadderState, o: LadderObservation, p: RecoveryPolicy): LadderDecision {
  const failedInWindow = s.failedCycles.filter((t) => o.now - t < p.windowMs);
  const state: LadderState = failedInWindow.length === s.failedCycles.length ? s : { ...s, failedCycles: failedInWindow };
  if (state.step === 'quarantined') return wait(state);
  if (o.helloSince && state.step !== 'grace') return { action: { kind: 'recovered', via: state.step }, next: { ...state, step: 'grace', since: o.now } };
  if (!p.enabled) return wait(state);

  const cycleOrGiveUp = (): LadderDecision => {
    if (failedInWindow.length >= p.maxCycles) {
      return {
        action: { kind: 'quarantine', reason: `${failedInWindow.length} power cycles in ${Math.round(p.windowMs / 60000)} min did not bring it back` },
        next: { ...state, step: 'quarantined', since: o.now },
      };
    }
    if (o.breakerOpen) return { action: { kind: 'alert', reason: 'circuit breaker open: too many nodes lost at once, not cycling' }, next: state };
    if (!o.canPowerCycle) return { action: { kind: 'alert', reason: 'no power driver can cycle this node; a human is needed' }, next: state };
    return { action: { kind: 'power-cycle' }, next: { ...state, step: 'await-boot', since: o.now } };
  };

  switch (state.step) {
    case 'grace':
      if (o.helloSince) return { action: { kind: 'recovered', via: 'grace' }, next: state };
      if (o.now - state.since < p.graceMs) return wait(state);
      if (o.agentConnected && !state.triedAgentReboot)
        return { action: { kind: 'agent-reboot' }, next: { ...state, step: 'agent-reboot', since: o.now, triedAgentReboot: true } };
      return cycleOrGiveUp();
    case 'agent-reboot':
      if (o.now - state.since < p.rebootTimeoutMs) return wait(state);
      return cycleOrGiveUp();
    case 'await-boot':
      if (o.bootEventSince || !p.expectBootEvent)
        return { action: { kind: 'wait' }, next: { ...state, step: 'await-hello', since: p.expectBootEvent ? o.now : state.since } };
      if (o.now - state.since < p.bootTimeoutMs) return wait(state);
      return failCycle(state, o, p, failedInWindow);
    case 'await-hello':
      if (o.now - state.since < p.bootTimeoutMs) return wait(state);
      return failCycle(state, o, p, failedInWindow);
  }
}

function failCycle(state: LadderState, o: LadderObservation, p: RecoveryPolicy, failedInWindow: readonly number[]): LadderDecision {
  const failed = [...failedInWindow, o.now];
  const next: LadderState = { ...state, step: 'grace', since: o.now - p.graceMs, failedCycles: failed };
  // Decide at once whether to cycle again or quarantine.
  return decideRecovery(next, { ...o, agentConnected: false }, p);
}

/**
 * The cluster-wide circuit breaker: when many nodes are lost at once the cause is likely the
 * switch or the master's network, and cycling them all would only add an inrush and a TFTP
 * storm. Opens at `fraction` of managed nodes (and at least `minNodes`), closes below it.
 */
export function breakerOpen(lost: number, managed: number, policy: { readonly fraction: number; readonly minNodes: number }): boolean {
  return managed > 0 && lost >= policy.minNodes && lost / managed >= policy.fraction;
}

/** Poison-job guard: a job whose attempts died with their node this many times is not retried. */
export function isPoison(nodeLosses: number, limit: number): boolean {
  return limit > 0 && nodeLosses >= limit;
}
