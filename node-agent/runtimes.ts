/**
 * Which job runtimes this node has, reported in hello (`identity.runtimes`) so the node page and
 * the scheduler (later: a requirement on it) can tell a node with python3 from one without.
 */
import { execFile } from 'node:child_process';

/**
 * The python3 probe: no site module, no environment, no imports (`sys` is built in), so that on
 * a slow node (a Pi 3, qemu TCG) it costs the interpreter's start and nothing more; the version
 * is what `platform.python_version()` says (`sys.version` up to the first space).
 */
export const PYTHON_PROBE = ['-I', '-S', '-c', 'import sys; print(sys.version.split()[0])'];

/**
 * `{ node: "20.19.0", python3: "3.11.2" }`; a runtime that is absent or does not answer in time is
 * left out. The agent starts this first thing and awaits it only for its hello.
 */
export async function detectRuntimes(python: string | null, timeoutMs = 15_000): Promise<Record<string, string>> {
  const out: Record<string, string> = { node: process.versions.node };
  if (python) {
    const version = await new Promise<string | undefined>((resolve) => {
      execFile(python, PYTHON_PROBE, { timeout: timeoutMs }, (err, stdout) => resolve(err ? undefined : stdout.trim().slice(0, 64) || undefined));
    });
    if (version) out.python3 = version;
  }
  return out;
}

/**
 * What the hello reports: the probe's answer if it has one within `ms`, else only what needs no
 * probe (node). A slow probe (python3 paged in from the package layer on a Pi 3 or under qemu TCG
 * takes seconds) then does not hold up the agent's hello; later hellos (reconnects) carry it.
 */
export async function runtimesWithin(probe: Promise<Record<string, string>>, ms: number): Promise<Record<string, string>> {
  let timer: NodeJS.Timeout | undefined;
  const fallback = new Promise<Record<string, string>>((resolve) => {
    timer = setTimeout(() => resolve({ node: process.versions.node }), ms);
    timer.unref();
  });
  try {
    return await Promise.race([probe, fallback]);
  } finally {
    clearTimeout(timer);
  }
}
