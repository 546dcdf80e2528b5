import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const GUARD = fileURLToPath(new URL('./process-guard.ts', import.meta.url));

// In a child process: vitest keeps its own uncaughtException policy in this one.
const script = `
import { installProcessGuard } from ${JSON.stringify(GUARD)};
import { pino } from 'pino';
const kinds = [];
const g = installProcessGuard(pino({ level: 'silent' }), (kind) => kinds.push(kind));
setTimeout(() => { throw new Error('escaped a timer'); }, 1);
setTimeout(() => { Promise.reject(new Error('nobody awaited this')); }, 2);
setTimeout(() => {
  console.log(JSON.stringify({ count: g.count(), kinds }));
  g.uninstall();
  setTimeout(() => { throw new Error('after uninstall'); }, 1);
}, 50);
`;

describe('process guard', () => {
  it('logs and counts an uncaught exception and an unhandled rejection instead of exiting; uninstall restores the default', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    const line = r.stdout.trim().split('\n')[0]!;
    expect(JSON.parse(line)).toEqual({ count: 2, kinds: ['exception', 'rejection'] });
    // Without the guard the next escape ends the process, as Node does by default.
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('after uninstall');
  });
});
