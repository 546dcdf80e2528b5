/**
 * Item 5 of issue 10 inside `npm test`: every pure surface under fast-check with a modest run count
 * (the ≥ 1M runs are `npm run fuzz`), plus the minimised inputs of past failures (fuzz/fixtures).
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PURE_SURFACES } from './surfaces.ts';

const RUNS = 300;
const FIXTURES = new URL('./fixtures/', import.meta.url);

describe.each(PURE_SURFACES.map((s) => [s.name, s] as const))('%s', (_name, surface) => {
  it(`holds for ${RUNS} generated inputs`, () => {
    fc.assert(
      fc.property(surface.arbitrary, (input) => surface.check(input)),
      { numRuns: RUNS, seed: 0x0a11ce },
    );
  });

  const fixtures = readdirSync(FIXTURES).filter((f) => f.startsWith(`${surface.name}.`) && f.endsWith('.json'));
  if (fixtures.length === 0) return;
  it(`holds for its ${fixtures.length} minimised regression fixture(s)`, () => {
    for (const f of fixtures) {
      const input = JSON.parse(readFileSync(new URL(f, FIXTURES), 'utf8')) as { input: unknown; bytes?: string };
      expect(() => surface.check((input.bytes !== undefined ? Buffer.from(input.bytes, 'hex') : input.input) as never), f).not.toThrow();
    }
  });
});
