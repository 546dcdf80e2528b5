import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const exclude = ['**/node_modules/**', '.cache/**', 'image/dist/**', 'image/.cache/**', 'data/**', 'buildroot/output/**'];

// One run covers unit, integration and e2e suites. Suites that need a tool that is absent
// (qemu, dnsmasq, chromium, netns privileges) skip with a reason; CI installs them.
// Unit files run in parallel; end-to-end files (real processes, qemu, browsers, namespaces)
// run one at a time so that, on a 2-core machine, none of them times out starved of CPU.
// vitest's default is one worker fewer than the cores: one worker on 2 cores, so the unit files
// get both (measured on the 2-core machine: 216 s with one worker, 151 s with two).
// The e2e files that boot or check the built image run last, in this order: CI builds the image
// in the background (.ci/run) and they wait for it, so every other e2e file runs meanwhile instead
// of after (the build is several minutes on 2 cores; the first of them used to wait it out).
const NEEDS_IMAGE = ['test/e2e/image-build.test.ts', 'test/e2e/image-boot.test.ts', 'test/e2e/cluster.test.ts'];

class ImageLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => NEEDS_IMAGE.indexOf(relative(import.meta.dirname, f.moduleId));
    return [...sorted.filter((f) => rank(f) < 0), ...sorted.filter((f) => rank(f) >= 0).sort((a, b) => rank(a) - rank(b))];
  }
}

export default defineConfig({
  test: {
    sequence: { sequencer: ImageLastSequencer },
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
