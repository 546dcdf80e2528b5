/**
 * Which job runtimes this node has, reported in hello (`identity.runtimes`) so the node page and
 * the scheduler (later: a requirement on it) can tell a node with python3 from one without.
 */
import { execFile } from 'node:child_process';

/** `{ node: "20.19.0", python3: "3.11.2" }`; a runtime that is absent or does not answer in time is left out. */
export async function detectRuntimes(python: string | null, timeoutMs = 5000): Promise<Record<string, string>> {
  const out: Record<string, string> = { node: process.versions.node };
  if (python) {
    const version = await new Promise<string | undefined>((resolve) => {
      execFile(python, ['-c', 'import platform; print(platform.python_version())'], { timeout: timeoutMs }, (err, stdout) =>
        resolve(err ? undefined : stdout.trim().slice(0, 64) || undefined),
      );
    });
    if (version) out.python3 = version;
  }
  return out;
}
