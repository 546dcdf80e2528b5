/** `picluster agent`: runs a node agent (see node-agent/README.md). */
import { run as runAgent } from '../../node-agent/main.ts';

export function run(argv: string[]): Promise<number | undefined> {
  return runAgent(argv);
}
