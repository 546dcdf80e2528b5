import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupCommand, restoreCommand } from './data-commands.ts';

describe('picluster backup / restore and the store engine', () => {
  it('refuses a PostgreSQL configuration, naming the engine and its tools', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'picluster-backup-pg-'));
    const config = join(dir, 'picluster.yaml');
    writeFileSync(config, `dataDir: ${join(dir, 'data')}\nstore: { kind: postgres, url: 'postgres://pic@127.0.0.1:1/picluster' }\n`);
    await expect(backupCommand.run([join(dir, 'b.tar'), '--config', config])).rejects.toThrow(
      /picluster backup copies the SQLite database; this configuration's store is postgres \(store\.kind\): use that engine's own tools \(pg_dump/,
    );
    await expect(restoreCommand.run([join(dir, 'b.tar'), '--config', config])).rejects.toThrow(
      /picluster restore copies the SQLite database; this configuration's store is postgres/,
    );
  });
});
