import { describe, expect, it } from 'vitest';
import { fuzzRest, routesOf, withLiveMaster } from './live.ts';

describe('live REST fuzzing (a small run of `npm run fuzz -- --only live-rest`)', () => {
  it('covers every documented route, the raw-body uploads included, and no input gets a 5xx or a hang', { timeout: 60_000 }, async () => {
    await withLiveMaster(async (m) => {
      const routes = routesOf(m).map(([method, path]) => `${method} ${path}`);
      expect(routes).toEqual(expect.arrayContaining(['POST /api/files', 'POST /api/jobs', 'GET /api/files/{sha256}/content', 'GET /boot/{s}']));
      expect(routes.length).toBeGreaterThanOrEqual(30);
      const r = await fuzzRest(m, 3000, 7);
      expect(r.inputs).toBe(3000);
      // the generator reaches the upload handlers, not only the auth and schema checks in front of them
      expect(Object.keys(r.byStatus)).toEqual(expect.arrayContaining(['200', '400', '401', '404']));
      expect(Object.keys(r.byStatus).filter((s) => Number(s) >= 500 && s !== '507')).toEqual([]);
    });
  });
});
