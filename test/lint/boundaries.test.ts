/**
 * The layering rules in eslint.config.js are the contract "domain is pure, only the store speaks
 * SQL, transports never reach the store, codecs never touch sockets, the running master never imports
 * the image builder". Each case lints a snippet as
 * if it lived at `file` and checks that the rule fires (or, for the allowed cases, stays quiet), so
 * a refactor of the config cannot silently turn a boundary off.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: file });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries', () => {
  it.each([
    ['dispatcher/domain/x.ts', "import Database from 'better-sqlite3';\nexport const d = Database;\n", 'domain is pure'],
    ['dispatcher/domain/x.ts', "import { a } from '../store/sqlite-store.ts';\nexport const d = a;\n", 'domain is pure'],
    ['dispatcher/domain/x.ts', "import { a } from '../../netboot/netboot.ts';\nexport const d = a;\n", 'domain is pure'],
    ['dispatcher/domain/x.ts', "import fastify from 'fastify';\nexport const d = fastify;\n", 'domain is pure'],
    ['dispatcher/master.ts', "import Database from 'better-sqlite3';\nexport const d = Database;\n", 'only dispatcher/store/'],
    ['cli/commands/x.ts', "import pg from 'pg';\nexport const d = pg;\n", 'only dispatcher/store/'],
    [
      'dispatcher/netboot-directory.ts',
      "import { fillTemplate } from '../image/build/boot-files.ts';\nexport const f = fillTemplate;\n",
      'never imports the image builder',
    ],
    ['netboot/netboot.ts', "import { buildImage } from '../image/build/build.ts';\nexport const b = buildImage;\n", 'never imports the image builder'],
    [
      'dispatcher/http/routes-x.ts',
      "import { SqliteStore } from '../store/sqlite-store.ts';\nexport const d = SqliteStore;\n",
      'transports call the Dispatcher facade',
    ],
    ['netboot/tftp/codec.ts', "import { createSocket } from 'node:dgram';\nexport const d = createSocket;\n", 'codecs and decisions are pure'],
    ['netboot/dhcp/decide.ts', "import { createSocket } from 'node:dgram';\nexport const d = createSocket;\n", 'codecs and decisions are pure'],
  ])('%s: %s is refused', async (file, code, reason) => {
    const messages = await restricted(file, code);
    expect(messages.length, messages.join('\n')).toBeGreaterThan(0);
    expect(messages.join('\n')).toContain(reason);
  });

  it.each([
    ['dispatcher/domain/x.ts', "import type { Requirements } from '../../common/protocol.ts';\nexport type R = Requirements;\n"],
    ['dispatcher/domain/x.ts', "import { JobQueue } from './job-queue.ts';\nexport const q = JobQueue;\n"],
    ['dispatcher/store/sqlite-store-x.ts', "import Database from 'better-sqlite3';\nexport const d = Database;\n"],
    ['dispatcher/http/routes-x.ts', "import type { Store } from '../store/store.ts';\nexport type S = Store;\n"],
    ['netboot/tftp/server.ts', "import { createSocket } from 'node:dgram';\nexport const d = createSocket;\n"],
    ['dispatcher/netboot-directory.ts', "import { fillTemplate } from '../common/template.ts';\nexport const f = fillTemplate;\n"],
  ])('%s: allowed import passes', async (file, code) => {
    expect(await restricted(file, code)).toEqual([]);
  });
});
