/**
 * Issue 14 end to end: the Python client (clients/python) installed with plain `pip install`
 * into a venv of Debian's /usr/bin/python3 with no package index, then its unittest suite
 * (client pieces, the examples, python jobs on real agents) against `picluster master
 * --local-agents 2` on loopback (test_tls.py: https by CA file and pin against a loopback server
 * with the certificates of `picluster tls init`). Debian's python3 is used explicitly: CI's fresh machine has
 * only that one (a pyenv shim may come first on PATH here).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, freePort, tempDir, waitFor } from './helpers/cluster-processes.ts';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const CLIENT = fileURLToPath(new URL('../../clients/python', import.meta.url));
const hasVenv =
  existsSync(PYTHON) &&
  existsSync('/usr/lib/python3/dist-packages') &&
  (await run(PYTHON, ['-c', 'import venv, ensurepip']).then(
    () => true,
    () => false,
  ));
const hasMypy =
  hasVenv &&
  (await run(PYTHON, ['-m', 'mypy', '--version']).then(
    () => true,
    () => false,
  ));
const skip = hasVenv ? '' : ' — skipped: needs Debian python3 with venv/ensurepip (apt-get install python3-venv)';

describe(`Python client against a real master${skip}`, () => {
  const dir = tempDir('picluster-py-e2e-');
  const venvPython = join(dir, 'venv', 'bin', 'python');
  let master: ChildProcess | undefined;
  let url = '';
  let log = '';
  const token = () => readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
  // A machine with no package index: no find-links, no config files, no index.
  const offline = { ...process.env, PIP_NO_INDEX: '1', PIP_CONFIG_FILE: '/dev/null', PIP_FIND_LINKS: '', PIP_DISABLE_PIP_VERSION_CHECK: '1' };

  beforeAll(async () => {
    if (!hasVenv) return;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    master = spawn(process.execPath, [BIN, 'master', '--local-agents', '2'], {
      env: {
        ...process.env,
        PICLUSTER_DATA_DIR: join(dir, 'data'),
        PICLUSTER_HTTP_PORT: String(port),
        PICLUSTER_HTTP_HOST: '127.0.0.1',
        PICLUSTER_INVENTORY: join(dir, 'no-inventory.yaml'),
        PICLUSTER_LOG_LEVEL: 'warn',
        PICLUSTER_AGENT_PYTHON: PYTHON,
        // test_cluster.py's oversized-upload test counts on 1 MiB
        PICLUSTER_FILES__MAX_UPLOAD_BYTES: String(1024 * 1024),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => (log = (log + d.toString()).slice(-50_000));
    master.stdout!.on('data', keep);
    master.stderr!.on('data', keep);
    await run(PYTHON, ['-m', 'venv', join(dir, 'venv')], { timeout: 120_000 });
    // test_tls.py serves https on loopback with the certificates `picluster tls init` makes
    await run(process.execPath, [BIN, 'tls', 'init', '--dir', join(dir, 'tls'), '--name', 'localhost', '--ip', '127.0.0.1'], { timeout: 60_000 });
    await waitFor(
      'local-1 and local-2 online',
      async () => {
        if (master!.exitCode !== null) throw new Error(`master exited: ${log}`);
        const r = await fetch(`${url}/api/nodes`, { headers: { authorization: `Bearer ${token()}` } }).catch(() => undefined);
        if (!r?.ok) return false;
        const nodes = (await r.json()) as { name: string; connected: boolean }[];
        return ['local-1', 'local-2'].every((n) => nodes.some((x) => x.name === n && x.connected));
      },
      60_000,
    );
  }, 180_000);

  afterAll(async () => {
    if (master && master.exitCode === null) {
      const exited = new Promise((r) => master!.once('exit', r));
      master.kill('SIGTERM');
      await exited;
    }
  }, 30_000);

  it.skipIf(!hasVenv)(
    '`pip install ./clients/python` works with no package index, and the package imports outside the tree',
    { timeout: 180_000 },
    async () => {
      const pip = await run(venvPython, ['-m', 'pip', 'install', CLIENT], { env: offline, timeout: 170_000 });
      expect(pip.stdout).toMatch(/Successfully installed picluster-0\.1\.0/);
      const where = await run(venvPython, ['-c', 'import picluster, os; print(picluster.__version__, os.path.dirname(picluster.__file__))'], { cwd: dir });
      expect(where.stdout).toMatch(new RegExp(`^0\\.1\\.0 ${dir}/venv/lib/python3[.\\d]*/site-packages/picluster\\n$`));
      expect(existsSync(join(where.stdout.trim().split(' ')[1]!, 'py.typed'))).toBe(true);
    },
  );

  it.skipIf(!hasVenv)('its unittest suite passes against the master with local agents, nothing skipped', { timeout: 300_000 }, async () => {
    const r = await run(venvPython, ['-m', 'unittest', 'discover', '-s', join(CLIENT, 'tests'), '-t', join(CLIENT, 'tests'), '-v'], {
      cwd: dir,
      env: { ...process.env, PICLUSTER_TEST_URL: url, PICLUSTER_TEST_TOKEN: token(), PICLUSTER_TEST_TLS_DIR: join(dir, 'tls'), PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 290_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { stdout: string; stderr: string; code: number }) => e);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(out, out.slice(-8000)).toMatch(/\nOK\n/);
    expect(out).not.toMatch(/skipped/);
    expect(Number(/Ran (\d+) tests/.exec(out)?.[1])).toBeGreaterThanOrEqual(40);
    // the picluster under test is the installed one, not the source tree
    expect(out).not.toContain(`${CLIENT}/src`);
  });

  it.skipIf(!hasMypy)(`the client type-checks with mypy --strict${hasMypy ? '' : ' — skipped: no python3-mypy'}`, { timeout: 180_000 }, async () => {
    const r = await run(PYTHON, ['-m', 'mypy', '--strict', '--cache-dir', join(dir, 'mypy-cache'), join(CLIENT, 'src', 'picluster')], {
      timeout: 170_000,
    }).catch((e: { stdout: string }) => e);
    expect(r.stdout).toMatch(/^Success: no issues found/m);
  });
});
