import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from './errors.ts';
import { envPath, loadConfig, redactConfig } from './config.ts';

const tmpFile = (text: string): string => {
  const f = join(mkdtempSync(join(tmpdir(), 'picluster-config-')), 'picluster.yaml');
  writeFileSync(f, text);
  return f;
};

describe('loadConfig', () => {
  it('fills defaults with no sources', () => {
    const c = loadConfig();
    expect(c.http.port).toBe(8080);
    expect(c.scheduler).toMatchObject({ strategy: 'round-robin', heartbeatMs: 2000, missedHeartbeats: 3 });
    expect(c.netboot).toMatchObject({ enabled: false, mode: 'proxy', clients: 'known' });
    expect(Object.isFrozen(c.scheduler)).toBe(true);
  });

  it('merges YAML, then env, then overrides', () => {
    const file = tmpFile('http: { port: 9000 }\nscheduler: { strategy: least-recent, heartbeatMs: 500 }\n');
    const c = loadConfig({
      file,
      env: { PICLUSTER_HTTP_PORT: '9100', PICLUSTER_SCHEDULER__MISSED_HEARTBEATS: '5', HOME: '/root', PICLUSTER_CONFIG: file },
      overrides: { dataDir: '/tmp/x' },
    });
    expect(c.http.port).toBe(9100);
    expect(c.scheduler).toMatchObject({ strategy: 'least-recent', heartbeatMs: 500, missedHeartbeats: 5 });
    expect(c.dataDir).toBe('/tmp/x');
  });

  it('accepts the minimal netboot section', () => {
    const c = loadConfig({ file: tmpFile('netboot: { interface: eth0, mode: proxy, tftpRoot: /srv/tftp, clients: any }\n') });
    expect(c.netboot).toMatchObject({ interface: 'eth0', mode: 'proxy', tftpRoot: '/srv/tftp', clients: 'any' });
  });

  it('reports every problem at once, each with its path', () => {
    const file = tmpFile('http: { port: 70000 }\nscheduler: { strategy: fastest }\nbogus: 1\nnetboot: { mode: half }\n');
    let err: unknown;
    try {
      loadConfig({ file, env: { PICLUSTER_SCHEDULER__HEARTBEAT_MS: 'soon' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const paths = (err as ValidationError).problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['http.port', 'scheduler.strategy', 'scheduler.heartbeatMs', 'netboot.mode']));
    expect(paths.some((p) => p === '' || p.includes('bogus'))).toBe(true);
  });

  it('names the file when YAML is broken', () => {
    const file = tmpFile('http: [\n');
    expect(() => loadConfig({ file })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ file: '/nonexistent.yaml', required: true })).toThrow(/cannot read config file/);
  });

  it('maps env names', () => {
    expect(envPath('PICLUSTER_DATA_DIR')).toBe('dataDir');
    expect(envPath('PICLUSTER_NETBOOT__TFTP__BLKSIZE_MAX')).toBe('netboot.tftp.blksizeMax');
    expect(envPath('PATH')).toBeUndefined();
    // the agent's and the client's variables may sit in the same environment
    expect(envPath('PICLUSTER_AGENT_TOKEN')).toBeUndefined();
    // nor the test suites' (a master started by a test inherits them)
    expect(envPath('PICLUSTER_E2E_SERIAL')).toBeUndefined();
    expect(envPath('PICLUSTER_TEST_CHAOS_SEED')).toBeUndefined();
    expect(envPath('PICLUSTER_TOKEN')).toBeUndefined();
  });

  it('redacts secrets', () => {
    const c = loadConfig({ overrides: { 'auth.adminToken': 'a'.repeat(20), 'cluster.secret': 'b'.repeat(20) } });
    const r = redactConfig(c) as { auth: { adminToken: string }; cluster: { secret: string }; http: { port: number } };
    expect(r.auth.adminToken).toBe('[redacted]');
    expect(r.cluster.secret).toBe('[redacted]');
    expect(JSON.stringify(r)).not.toContain('aaaa');
    expect(r.http.port).toBe(8080);
  });

  it('takes a PostgreSQL store with its URL, requires the URL, and redacts its password', () => {
    expect(loadConfig({}).store.kind).toBe('sqlite');
    const c = loadConfig({ env: { PICLUSTER_STORE__KIND: 'postgres', PICLUSTER_STORE__URL: 'postgres://pic:hunter2@db.lan:5432/picluster' } });
    expect(c.store).toMatchObject({ kind: 'postgres', url: 'postgres://pic:hunter2@db.lan:5432/picluster' });
    expect(JSON.stringify(redactConfig(c))).not.toContain('hunter2');
    expect((redactConfig(c) as { store: { url: string } }).store.url).toBe('postgres://pic:[redacted]@db.lan:5432/picluster');
    expect(() => loadConfig({ overrides: { 'store.kind': 'postgres' } })).toThrow(/store\.url.*required with store\.kind: postgres/s);
    expect(() => loadConfig({ overrides: { 'store.url': 'postgres://x@h/db' } })).toThrow(/store\.url.*only used with store\.kind: postgres/s);
    expect(() => loadConfig({ overrides: { 'store.kind': 'postgres', 'store.url': 'mysql://h/db' } })).toThrow(/store\.url/);
  });
});
