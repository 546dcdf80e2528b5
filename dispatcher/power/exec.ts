/**
 * The default `ExecFn`: `execFile` (never a shell), bounded output, a hard timeout. Non-zero exits
 * resolve (the driver decides what they mean); only "could not run" and "timed out" reject.
 */
import { execFile } from 'node:child_process';
import type { ExecFn } from './driver.ts';
import { PowerTimeoutError, PowerUnreachableError } from './errors.ts';

const MAX_OUTPUT_BYTES = 1024 * 1024;

export const nodeExec: ExecFn = (file, args, { env, timeoutMs }) =>
  new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      // The child inherits the master's environment (PATH, locale) plus the driver's own variables.
      { env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8', windowsHide: true },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr, code: 0 });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: string | number };
        if (e.code === 'ENOENT') return reject(new PowerUnreachableError(`cannot run ${file}: not found on PATH`, { details: { file } }));
        if (e.code === 'EACCES') return reject(new PowerUnreachableError(`cannot run ${file}: permission denied`, { details: { file } }));
        if (e.killed || e.signal) {
          return reject(new PowerTimeoutError(`${file} did not finish within ${timeoutMs} ms`, { details: { file, timeoutMs } }));
        }
        if (typeof e.code === 'number') return resolve({ stdout, stderr, code: e.code });
        reject(new PowerUnreachableError(`cannot run ${file}: ${e.message}`, { details: { file } }));
      },
    );
  });
