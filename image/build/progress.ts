/**
 * Step-by-step progress for `picluster build-image`: `[arm64 3/9] download debs … ok 2.1s (6 debs, 68.4 MB)`.
 * The build talks to this interface only, so tests pass a silent one and the CLI a stream.
 */
export interface Progress {
  /** Runs one step, printing its title, then its outcome and duration. */
  step<T>(title: string, fn: () => Promise<T>, summary?: (result: T) => string): Promise<T>;
  /** A line of detail inside the current step (cache hits, resolved versions). */
  note(message: string): void;
}

export function streamProgress(out: NodeJS.WritableStream, prefix: string, totalSteps: number, now: () => number = () => performance.now()): Progress {
  let n = 0;
  return {
    async step(title, fn, summary) {
      n += 1;
      const tag = `[${prefix} ${n}/${totalSteps}]`;
      out.write(`${tag} ${title} …\n`);
      const t0 = now();
      try {
        const result = await fn();
        const s = summary ? ` (${summary(result)})` : '';
        out.write(`${tag} ${title}: ok ${((now() - t0) / 1000).toFixed(1)}s${s}\n`);
        return result;
      } catch (e) {
        out.write(`${tag} ${title}: FAILED after ${((now() - t0) / 1000).toFixed(1)}s\n`);
        throw e;
      }
    },
    note(message) {
      out.write(`    ${message}\n`);
    },
  };
}

export function silentProgress(): Progress {
  return { step: (_t, fn) => fn(), note: () => undefined };
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
