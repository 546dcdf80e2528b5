import { describe, expect, it } from 'vitest';
import type { ResultBody } from '../common/protocol.ts';
import { fitResult } from './result-size.ts';

const base: ResultBody = { attemptId: 1, jobId: 1, outcome: 'succeeded', exitCode: 0, signal: null, startedAt: 1, durationMs: 2 };
const size = (r: ResultBody) => Buffer.byteLength(JSON.stringify({ type: 'result', result: r }));

describe('fitResult', () => {
  it('leaves a result that fits untouched', () => {
    const r = { ...base, value: { a: 1 }, stdout: 'x' };
    expect(fitResult(r, 1000)).toBe(r);
  });

  it('turns a too-large function value into a failure with a clear error', () => {
    const r = fitResult({ ...base, value: 'v'.repeat(5000), stdout: 'hello\n' }, 1000);
    expect(r.outcome).toBe('failed');
    expect('value' in r).toBe(false);
    expect(r.error).toMatch(/return value is 5002 bytes of JSON/);
    expect(r.stdout).toBe('hello\n');
    expect(size(r)).toBeLessThanOrEqual(1000);
  });

  it('shortens the output tails until the frame fits, counting what it dropped', () => {
    const out = Array.from({ length: 500 }, (_, i) => `line ${i}\n`).join('');
    const r = fitResult({ ...base, stdout: out, stdoutTruncated: 10, stderr: 'é'.repeat(300) }, 1500);
    expect(size(r)).toBeLessThanOrEqual(1500);
    expect(r.outcome).toBe('succeeded');
    expect(out.endsWith(r.stdout!)).toBe(true);
    expect(r.stdoutTruncated).toBe(10 + Buffer.byteLength(out) - Buffer.byteLength(r.stdout!));
    expect(r.stderr).toMatch(/^é*$/);
    expect((r.stderrTruncated ?? 0) + Buffer.byteLength(r.stderr!)).toBe(600);
  });
});
