import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentUsageError } from './errors.ts';
import { parseKernelCmdline, resolveAgentOptions, type OptionSources } from './options.ts';

const piCmdline = readFileSync(join(import.meta.dirname, 'fixtures', 'pi3bplus', 'cmdline'), 'utf8');
const src = (over: Partial<OptionSources> = {}): OptionSources => ({
  argv: [],
  env: {},
  kernelCmdline: undefined,
  imageVersionFile: undefined,
  hostname: 'laptop',
  ...over,
});

describe('parseKernelCmdline', () => {
  it('extracts picluster.* keys from a Pi cmdline', () => {
    expect(parseKernelCmdline(piCmdline)).toEqual({ dispatcher: 'ws://10.0.0.1:8080/agent', name: 'node6.lan', token: 'abc-DEF_123' });
  });

  it.each([
    ['', {}],
    ['quiet splash', {}],
    ['picluster.name="node 6" x=1', { name: 'node 6' }],
    ['picluster.flag picluster.name=a picluster.name=b', { flag: '', name: 'b' }],
    ['picluster.token=a=b==', { token: 'a=b==' }],
    ['picluster.=x notpicluster.name=y', {}],
    ['  picluster.dispatcher=ws://h/agent\n', { dispatcher: 'ws://h/agent' }],
  ])('parses %j', (text, expected) => expect(parseKernelCmdline(text)).toEqual(expected));
});

describe('resolveAgentOptions', () => {
  it('takes flags first', () => {
    const o = resolveAgentOptions(
      src({
        argv: [
          '--dispatcher',
          'ws://m:8080/agent',
          '--name',
          'n1',
          '--token',
          't1',
          '--slots',
          '3',
          '--work-dir',
          '/tmp/w',
          '--watchdog',
          '/dev/watchdog',
          '--log-level',
          'debug',
          '--reboot-command',
          'sudo reboot now',
        ],
        env: { PICLUSTER_AGENT_DISPATCHER: 'ws://env/agent', PICLUSTER_AGENT_NAME: 'env', PICLUSTER_AGENT_TOKEN: 'env', PICLUSTER_AGENT_SLOTS: '9' },
        kernelCmdline: piCmdline,
      }),
    );
    expect(o).toMatchObject({
      dispatcher: 'ws://m:8080/agent',
      name: 'n1',
      token: 't1',
      slots: 3,
      workDir: '/tmp/w',
      watchdog: '/dev/watchdog',
      logLevel: 'debug',
      rebootCommand: ['sudo', 'reboot', 'now'],
      shutdownCommand: ['poweroff'],
      sources: { dispatcher: 'flag', name: 'flag', token: 'flag' },
    });
  });

  it('then env, then the kernel cmdline, field by field', () => {
    const o = resolveAgentOptions(
      src({
        env: { PICLUSTER_AGENT_TOKEN: 'env-token', PICLUSTER_AGENT_SLOTS: '2', PICLUSTER_AGENT_WORK_DIR: '/w', PICLUSTER_IMAGE_VERSION: 'v-env' },
        kernelCmdline: piCmdline,
        imageVersionFile: 'v-file\n',
      }),
    );
    expect(o).toMatchObject({
      dispatcher: 'ws://10.0.0.1:8080/agent',
      name: 'node6.lan',
      token: 'env-token',
      slots: 2,
      workDir: '/w',
      imageVersion: 'v-env',
      sources: { dispatcher: 'cmdline', name: 'cmdline', token: 'env' },
    });
  });

  it('takes a token that starts with a dash (a derived base64url token does one time in 64; parseArgs calls it ambiguous)', () => {
    const o = resolveAgentOptions(src({ argv: ['--dispatcher', 'ws://m/agent', '--token', '-Zk3_x', '--name', 'n1'] }));
    expect(o).toMatchObject({ token: '-Zk3_x', name: 'n1' });
  });

  it('defaults: name from the hostname, no slot cap, image version from the file, info logs', () => {
    const o = resolveAgentOptions(src({ argv: ['--dispatcher', 'wss://m/agent', '--token', 't'], imageVersionFile: '2024.11-1\n' }));
    expect(o).toMatchObject({
      name: 'laptop',
      slots: undefined,
      workDir: undefined,
      watchdog: undefined,
      imageVersion: '2024.11-1',
      logLevel: 'info',
      rebootCommand: ['reboot'],
      sources: { name: 'default' },
    });
  });

  it('returns help for --help', () => {
    expect(resolveAgentOptions(src({ argv: ['--help'] }))).toBe('help');
  });

  it('reports every problem at once', () => {
    let err: unknown;
    try {
      resolveAgentOptions(src({ argv: ['--dispatcher', 'http://m/agent', '--slots', 'two', '--log-level', 'loud'], hostname: 'bad host' }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AgentUsageError);
    const problems = (err as AgentUsageError).details!.problems as string[];
    expect(problems).toEqual([
      expect.stringMatching(/must start with ws:\/\/ or wss:\/\//),
      expect.stringMatching(/no node name/),
      expect.stringMatching(/no node token/),
      expect.stringMatching(/slots must be an integer/),
      expect.stringMatching(/log level must be one of/),
    ]);
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['positional'], /positional/],
    [['--dispatcher', 'ws://m/agent', '--token', 't', '--name=-bad'], /node name "-bad" is invalid/],
  ])('rejects %j', (argv, msg) => {
    expect(() => resolveAgentOptions(src({ argv }))).toThrow(msg);
  });
});

describe('python and cgroup options', () => {
  const base = { env: {}, kernelCmdline: undefined, imageVersionFile: undefined, hostname: 'h1' };
  const need = ['--dispatcher', 'ws://m:8080/agent', '--token', 't'];
  it('defaults: python3 from PATH, cgroups auto', () => {
    expect(resolveAgentOptions({ ...base, argv: need })).toMatchObject({ python: undefined, cgroups: 'auto' });
  });
  it('flags win over env', () => {
    const o = resolveAgentOptions({
      ...base,
      argv: [...need, '--python', '/opt/py/bin/python3'],
      env: { PICLUSTER_AGENT_PYTHON: '/usr/bin/python3', PICLUSTER_AGENT_CGROUPS: 'off' },
    });
    expect(o).toMatchObject({ python: '/opt/py/bin/python3', cgroups: 'off' });
  });
  it('a bad --cgroups value is a usage error', () => {
    expect(() => resolveAgentOptions({ ...base, argv: [...need, '--cgroups', 'maybe'] })).toThrow(/--cgroups must be auto or off/);
  });
});
