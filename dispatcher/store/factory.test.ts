import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore } from './factory.ts';

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
});
