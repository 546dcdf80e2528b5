import { defineConfig } from 'vitest/config';

// One run covers unit, integration and e2e suites. Suites that need a tool that is
// absent (qemu, dnsmasq, chromium, netns privileges) skip with a reason; CI installs them.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'image/dist/**', 'image/.cache/**', 'data/**', 'buildroot/output/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.cache/vitest-report.json' }]] : ['default'],
  },
});
