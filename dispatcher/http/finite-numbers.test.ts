import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { firstNonFinite } from './finite-numbers.ts';

describe('firstNonFinite', () => {
  it('names the path of the first non-finite number in parsed JSON', () => {
    expect(firstNonFinite({ a: 1, b: [0, { c: Infinity }] })).toBe('b[1].c');
    expect(firstNonFinite({ limit: Number.NaN })).toBe('limit');
    expect(firstNonFinite({ a: 1, b: ['x', null, { c: -5e300 }] })).toBeUndefined();
    expect(firstNonFinite(Object.assign(Object.create(null) as object, { n: -Infinity }))).toBe('n');
    // fastify's query object (fast-querystring): its prototype has a null prototype
    expect(firstNonFinite(Object.assign(Object.create(Object.create(null) as object) as object, { limit: Infinity }))).toBe('limit');
  });

  it('does not walk what is not a parser result: a raw-body route hands it the request stream', () => {
    const stream = new PassThrough();
    Object.assign(stream, { bad: Infinity });
    expect(firstNonFinite(stream)).toBeUndefined();
    expect(firstNonFinite({ body: stream })).toBeUndefined();
    expect(firstNonFinite(new Date())).toBeUndefined();
  });
});
