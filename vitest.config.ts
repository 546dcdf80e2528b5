import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const exclude = ['**/node_modules/**', '.cache/**', 'image/dist/**', 'image/.cache/**', 'data/**', 'buildroot/output/**'];

// One run covers unit, integration and e2e suites. Suites that need a tool that is absent
// (qemu, dnsmasq, chromium, netns privileges) skip with a reason; CI installs them.
// Unit files run in parallel; end-to-end files (real processes, qemu, browsers, namespaces)
// run one at a time so that, on a 2-core machine, none of them times out starved of CPU.
// vitest's default is one worker fewer than the cores: one worker on 2 cores, so the unit files
// get both (measured on the 2-core machine: 216 s with one worker, 151 s with two).
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // expect.poll waits on real sockets and processes: its default 1 s is too short on a loaded 2-core machine
    expect: { poll: { timeout: 10_000 } },
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.cache/vitest-report.json' }]] : ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['**/*.test.ts'], exclude: [...exclude, 'test/e2e/**'], maxWorkers: Math.max(2, availableParallelism() - 1) },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], exclude, fileParallelism: false } },
    ],
  },
});
