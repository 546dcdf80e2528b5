import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.ts';
import { silentLogger } from '../common/logger.ts';
import { startMaster } from './master.ts';

describe('the master and store.kind', () => {
  it('refuses store.kind: postgres with a clear error, before touching the data dir', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'picluster-master-store-')), 'data');
    const config = loadConfig({ overrides: { dataDir, 'store.kind': 'postgres', 'store.url': 'postgres://pic@127.0.0.1:1/picluster' } });
    await expect(startMaster(config, { log: silentLogger() })).rejects.toThrow(/store\.kind: postgres is not yet supported by the master/);
    expect(existsSync(dataDir)).toBe(false);
  });
});
