import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/logger.ts';
import { ArtifactUploader, findArtifacts } from './artifacts.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'picluster-out-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('findArtifacts', () => {
  it('lists regular files by relative name, sorted, and leaves out symlinks with a note', async () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'b.txt'), 'bb');
    writeFileSync(join(dir, 'sub', 'a.txt'), 'a');
    symlinkSync('/etc/passwd', join(dir, 'link'));
    const { files, notes } = await findArtifacts(dir, { maxFiles: 10, maxBytes: 100 });
    expect(files.map((f) => [f.name, f.sizeBytes])).toEqual([
      ['b.txt', 2],
      ['sub/a.txt', 1],
    ]);
    expect(notes).toEqual(['1 entries were not regular files with usable names and were left out']);
  });

  it('stops at the count and byte bounds and says what was left out', async () => {
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}`), 'x'.repeat(10));
    expect((await findArtifacts(dir, { maxFiles: 3, maxBytes: 1000 })).files).toHaveLength(3);
    const bytes = await findArtifacts(dir, { maxFiles: 100, maxBytes: 25 });
    expect(bytes.files.map((f) => f.name)).toEqual(['f0', 'f1']);
    expect(bytes.notes[0]).toBe('truncated: 3 files (30 bytes) left out, over the artifact limits of 100 files / 25 bytes per job');
  });

  it('is empty for a missing directory', async () => {
    expect(await findArtifacts(join(dir, 'none'), { maxFiles: 1, maxBytes: 1 })).toEqual({ files: [], notes: [] });
  });
});

describe('ArtifactUploader against a master that restarts', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    if (server?.listening) await new Promise((r) => server!.close(r));
    server = undefined;
  });

  /** A port nothing listens on yet (a master that is down), and a master that starts there when asked. */
  async function laterMaster(answers: number[]) {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const got: { name: string; bytes: number; status: number }[] = [];
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = answers.shift() ?? 200;
        got.push({ name: String(req.headers['x-picluster-name']), bytes: Buffer.concat(chunks).length, status });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'not now');
      });
    });
    const start = async () => {
      if (server!.listening) return;
      server!.listen(port, '127.0.0.1');
      await once(server!, 'listening');
    };
    return { apiBase: `http://127.0.0.1:${port}/api/`, got, start };
  }

  it('tries again while the master is down or answers 503, and lists the file once it is taken', async () => {
    writeFileSync(join(dir, 'out.txt'), 'result bytes');
    const master = await laterMaster([503]);
    const pauses: number[] = [];
    const up = new ArtifactUploader({
      apiBase: master.apiBase,
      nodeName: 'n1',
      token: 't',
      log: silentLogger(),
      // each pause: the master comes up (the first try found nothing listening)
      sleep: async (ms) => {
        pauses.push(ms);
        await master.start();
      },
    });
    const r = await up.collect(dir);
    expect(pauses).toEqual([1000, 2000]); // refused, then 503, then taken
    expect(master.got.map((g) => g.status)).toEqual([503, 200]);
    expect(r.artifacts?.map((a) => a.name)).toEqual(['out.txt']);
    expect(r.artifactsNote).toBeUndefined();
  });

  it('gives up after retryForMs and says so; a refusal (413) is not tried again', async () => {
    writeFileSync(join(dir, 'a.txt'), 'a');
    writeFileSync(join(dir, 'b.txt'), 'b');
    const master = await laterMaster([503, 503, 503, 413]);
    await master.start();
    let clock = 0;
    const up = new ArtifactUploader({
      apiBase: master.apiBase,
      nodeName: 'n1',
      token: 't',
      log: silentLogger(),
      retryForMs: 5000,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    const r = await up.collect(dir);
    // a.txt: 503 at 0, 1 s and 3 s; the next pause (4 s) would pass 5 s. b.txt: 413, once.
    expect(master.got.map((g) => `${g.name}:${g.status}`)).toEqual(['a.txt:503', 'a.txt:503', 'a.txt:503', 'b.txt:413']);
    expect(r.artifacts).toBeUndefined();
    expect(r.artifactsNote).toContain('a.txt not uploaded: the master answered 503: not now; gave up after 3 tries');
    expect(r.artifactsNote).toContain('b.txt not uploaded: the master answered 413');
  });
});
