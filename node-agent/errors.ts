import { PiclusterError } from '../common/errors.ts';

/** Bad or missing agent options (flags, env, kernel cmdline). The CLI exits with code 2. */
export class AgentUsageError extends PiclusterError {
  readonly code = 'AGENT_USAGE';
}

/** The agent cannot use a job spec (bad argv/env, missing runtime); the attempt ends `rejected`. */
export class JobRejectedError extends PiclusterError {
  readonly code = 'JOB_REJECTED';
}
