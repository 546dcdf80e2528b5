import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bindDashValues } from './argv.ts';

describe('bindDashValues', () => {
  it('lets a token that starts with a dash through parseArgs (it refuses `--token -x` as ambiguous)', () => {
    const argv = ['--name', 'n1', '--token', '-Xy_9', '--slots', '2'];
    expect(() => parseArgs({ args: argv, options: { name: { type: 'string' }, token: { type: 'string' }, slots: { type: 'string' } }, strict: true })).toThrow(
      /ambiguous/,
    );
    const { values } = parseArgs({
      args: bindDashValues(argv),
      options: { name: { type: 'string' }, token: { type: 'string' }, slots: { type: 'string' } },
      strict: true,
    });
    expect(values).toEqual({ name: 'n1', token: '-Xy_9', slots: '2' });
  });

  it('leaves other options, `--token=`, a trailing `--token` and everything after `--` alone', () => {
    expect(bindDashValues(['--name', '-n', '--token=-a', '--', '--token', '-b'])).toEqual(['--name', '-n', '--token=-a', '--', '--token', '-b']);
    expect(bindDashValues(['--token'])).toEqual(['--token']);
  });
});
