/**
 * The script a `function` job's child `node` runs. It is a string (not a file next to this one)
 * so it survives esbuild bundling: the runner writes it into the attempt's scratch dir.
 *
 * argv: <job.mjs> <args.json> <result.json>. It imports the job module, awaits
 * `default(...args)`, writes `{"ok":true,"value":…}` or `{"ok":false,"error":"<stack>"}` to the
 * result file (with `usage`: its own CPU time and peak RSS from process.resourceUsage()), flushes stdout/stderr and exits (a function that leaves timers or sockets open
 * does not hold the attempt open). A result file is used rather than an IPC channel or fd 3 so
 * large values cannot block on a pipe and the job's own stdout stays its own.
 */
export const FUNCTION_RUNNER_SOURCE = `
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [jobPath, argsPath, resultPath] = process.argv.slice(2);
const describe = (e) => {
  if (e instanceof Error) {
    const stack = typeof e.stack === 'string' ? e.stack : '';
    return stack.includes(e.message) ? stack : \`\${e.name}: \${e.message}\\n\${stack}\`;
  }
  try { return 'thrown value (not an Error): ' + JSON.stringify(e); } catch { return 'thrown value (not an Error): ' + String(e); }
};
const usage = () => {
  const u = process.resourceUsage();
  return JSON.stringify({ cpuMs: Math.round((u.userCPUTime + u.systemCPUTime) / 1000), peakMemoryBytes: u.maxRSS * 1024 });
};
let code = 0;
try {
  const args = JSON.parse(readFileSync(argsPath, 'utf8'));
  const mod = await import(pathToFileURL(jobPath).href);
  if (typeof mod.default !== 'function') throw new TypeError('the job module has no default export function');
  const value = await mod.default(...args);
  let json;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    throw new TypeError('the return value is not JSON-serializable: ' + (e && e.message));
  }
  writeFileSync(resultPath, '{"ok":true' + (json === undefined ? '' : ',"value":' + json) + ',"usage":' + usage() + '}');
} catch (e) {
  code = 1;
  writeFileSync(resultPath, JSON.stringify({ ok: false, error: describe(e), usage: JSON.parse(usage()) }));
}
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
`;
