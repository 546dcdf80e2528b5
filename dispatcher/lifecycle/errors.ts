/** Errors of the node lifecycle (power service, reboot). Each has its own stable code. */
import { PiclusterError } from '../../common/errors.ts';

export class PowerNotConfiguredError extends PiclusterError {
  readonly code = 'POWER_NOT_CONFIGURED';
  constructor(node: string) {
    super(`node '${node}' has no power driver configured (inventory power: { driver: ... })`, { details: { node } });
  }
}

export class PowerBusyError extends PiclusterError {
  readonly code = 'POWER_BUSY';
  constructor(node: string) {
    super(`a power operation on node '${node}' is already under way`, { details: { node } });
  }
}

export class AgentNotConnectedError extends PiclusterError {
  readonly code = 'AGENT_NOT_CONNECTED';
  constructor(node: string, hint: string) {
    super(`node '${node}' has no connected agent ${hint}`, { details: { node } });
  }
}

export const LIFECYCLE_ERROR_CODES = ['POWER_NOT_CONFIGURED', 'POWER_BUSY', 'AGENT_NOT_CONNECTED'] as const;
export type LifecycleErrorCode = (typeof LIFECYCLE_ERROR_CODES)[number];
