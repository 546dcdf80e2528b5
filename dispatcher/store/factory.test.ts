import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAsyncStore, createStore } from './factory.ts';

describe('createStore', () => {
  it('builds the engine the spec names', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'picluster-store-')), 'db.sqlite');
    const sqlite = createStore({ kind: 'sqlite', path, synchronous: 'full' });
    expect(sqlite.kind).toBe('sqlite');
    sqlite.close();
    const memory = createStore({ kind: 'memory' });
    expect(memory.kind).toBe('memory');
    memory.close();
  });

  it('builds every engine on the asynchronous contract; PostgreSQL refuses an unreachable server with its address', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'picluster-store-')), 'db.sqlite');
    const sqlite = await createAsyncStore({ kind: 'sqlite', path });
    expect(sqlite.kind).toBe('sqlite');
    expect(await sqlite.insertJobs([{ spec: { kind: 'exec', argv: ['true'] }, priority: 0, group: 'g', retries: 0, requirements: {} }], 1)).toHaveLength(1);
    await sqlite.close();
    // Port 1 on loopback: nothing listens there, the connect is refused at once.
    await expect(createAsyncStore({ kind: 'postgres', url: 'postgres://pic:pw@127.0.0.1:1/picluster' })).rejects.toThrow(
      /cannot open PostgreSQL database postgres:\/\/pic:\*\*\*@127\.0\.0\.1:1\/picluster/,
    );
  });
});
