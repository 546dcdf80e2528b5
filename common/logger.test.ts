import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { configSummary } from './config-summary.ts';
import { createLogger, resolveLogFormat, type LogFormat } from './logger.ts';

function capture(format: LogFormat | undefined, isTty: boolean): { lines: () => string[]; log: ReturnType<typeof createLogger> } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const log = createLogger({ level: 'info', ...(format ? { format } : {}) }, out, isTty);
  return { log, lines: () => text.split('\n').filter(Boolean) };
}

describe('log format', () => {
  it.each([
    [undefined, true, 'json'],
    [undefined, false, 'json'],
    ['auto', true, 'pretty'],
    ['auto', false, 'json'],
    ['json', true, 'json'],
    ['pretty', false, 'pretty'],
  ] as const)('%s on a tty=%s is %s', (format, tty, want) => {
    expect(resolveLogFormat(format, tty)).toBe(want);
  });

  it('json: one JSON object per line, secrets redacted', () => {
    const { log, lines } = capture('json', false);
    log.child({ component: 'tftp' }).info({ mac: 'aa:bb:cc:dd:ee:ff', token: 'sekrit' }, 'tftp transfer complete');
    const [line] = lines();
    const obj = JSON.parse(line!) as Record<string, unknown>;
    expect(obj).toMatchObject({ msg: 'tftp transfer complete', component: 'tftp', mac: 'aa:bb:cc:dd:ee:ff', token: '[redacted]' });
  });

  it('pretty: one line per event with level, component and fields; no colours off a terminal', () => {
    const { log, lines } = capture('pretty', false);
    log.child({ component: 'tftp' }).info({ file: 'start.elf', bytes: 2_000, token: 'sekrit' }, 'tftp transfer complete');
    log.warn('second');
    const got = lines();
    expect(got).toHaveLength(2);
    expect(got[0]).toMatch(/INFO.*\[tftp\] tftp transfer complete.*"file":"start.elf".*"bytes":2000/);
    expect(got[0]).toContain('[redacted]');
    expect(got[0]).not.toContain('sekrit');
    expect(got[0]).not.toContain('\u001b[');
    expect(() => JSON.parse(got[0]!)).toThrow();
    expect(got[1]).toMatch(/WARN.*second/);
  });

  it('auto on a terminal: pretty with colours', () => {
    const { log, lines } = capture('auto', true);
    log.info('hello');
    expect(lines()[0]).toContain('\u001b[');
    expect(lines()[0]).toContain('hello');
  });
});

describe('config summary', () => {
  it('is short, flat and carries no secret', () => {
    const config = loadConfig({
      overrides: { 'auth.adminToken': 'a'.repeat(32), 'cluster.secret': 'b'.repeat(32), 'netboot.enabled': true, 'netboot.interface': 'enp3s0' },
    });
    const s = configSummary(config);
    expect(s).toEqual({
      http: '0.0.0.0:8080',
      dataDir: './data',
      inventory: 'inventory/nodes.yaml',
      strategy: 'round-robin',
      netboot: 'proxy DHCP on enp3s0, clients known, tftp image/dist/pi',
      auth: 'admin token from config, metrics open',
      log: 'info/auto',
    });
    expect(JSON.stringify(s)).not.toMatch(/aaaa|bbbb/);
    expect(JSON.stringify(s).length).toBeLessThan(400);
  });

  it('PICLUSTER_LOG_FORMAT reaches log.format; a bad value is reported', () => {
    expect(loadConfig({ env: { PICLUSTER_LOG_FORMAT: 'json' } }).log.format).toBe('json');
    expect(() => loadConfig({ env: { PICLUSTER_LOG_FORMAT: 'fancy' } })).toThrow(/log\.format/);
  });
});
