import type { Requirements } from '../../common/protocol.ts';

/** What the scheduler knows about a node when matching requirements. */
export interface NodeTraits {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly cpus: number;
  readonly memoryMb: number;
  readonly arch: string;
}

/** True when the node satisfies every requirement the job states. */
export function satisfies(node: NodeTraits, req: Requirements): boolean {
  if (req.node !== undefined && req.node !== node.name) return false;
  if (req.arch !== undefined && req.arch !== node.arch) return false;
  if (req.cpus !== undefined && req.cpus > node.cpus) return false;
  if (req.memoryMb !== undefined && req.memoryMb > node.memoryMb) return false;
  if (req.labels) {
    for (const [k, v] of Object.entries(req.labels)) {
      const have = node.labels[k];
      if (have === undefined || (v !== '*' && v !== have)) return false;
    }
  }
  return true;
}

export const hasRequirements = (req: Requirements): boolean =>
  req.node !== undefined ||
  req.arch !== undefined ||
  req.cpus !== undefined ||
  req.memoryMb !== undefined ||
  (req.labels !== undefined && Object.keys(req.labels).length > 0);
