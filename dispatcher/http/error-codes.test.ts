/**
 * Every error code the master can raise has an HTTP status (error-status.ts), no two error
 * classes share a code, and the error handler answers each code with its mapped status.
 * The sources are scanned, so a new `readonly code = '…'` anywhere in dispatcher/, common/ or
 * inventory/ without a status fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { PiclusterError } from '../../common/errors.ts';
import { ERROR_CODES, ERROR_STATUS } from '../error-status.ts';
import { installErrorHandler } from './error-handler.ts';

const root = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .filter((p) => !p.includes('/ui/src/') && !p.includes('/ui/dist/'));
}

/** `code → files declaring a class with it`. */
function declaredCodes(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of ['dispatcher', 'common', 'inventory'].flatMap(sources)) {
    for (const m of readFileSync(join(root, file), 'utf8').matchAll(/readonly code = '([A-Z_]+)'/g)) {
      found.set(m[1]!, [...(found.get(m[1]!) ?? []), file]);
    }
  }
  return found;
}

describe('error codes', () => {
  const declared = declaredCodes();

  it('finds the codes it scans for (the scan itself works)', () => {
    expect(declared.get('NODE_EXISTS')).toEqual(['dispatcher/domain/errors.ts']);
    expect(declared.get('POWER_BUSY')).toEqual(['dispatcher/lifecycle/errors.ts']);
    expect(declared.size).toBeGreaterThan(15);
  });

  it('every declared code has an HTTP status', () => {
    const missing = [...declared.keys()].filter((c) => !(c in ERROR_STATUS));
    expect(missing).toEqual([]);
  });

  it('no two error classes share a code', () => {
    const shared = [...declared].filter(([, files]) => files.length > 1);
    expect(shared).toEqual([]);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('every mapped code is declared somewhere (no stale entries), NOT_FOUND being the not-found handler', () => {
    const stale = Object.keys(ERROR_STATUS).filter((c) => !declared.has(c) && c !== 'NOT_FOUND');
    expect(stale).toEqual([]);
  });

  it.each(Object.entries(ERROR_STATUS))('%s is answered with %i and its code', async (code, status) => {
    class Thrown extends PiclusterError {
      readonly code = code;
    }
    const app = fastify({ logger: false });
    installErrorHandler(app);
    app.get('/x', async () => {
      throw new Thrown(`a ${code} error`);
    });
    const res = await app.inject({ method: 'GET', url: '/x' });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ statusCode: status, code, message: `a ${code} error` });
    await app.close();
  });
});
