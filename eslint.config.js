// ESLint (flat config): typescript-eslint's recommended rules plus the layering this project
// keeps (../shared/ARCHITECTURE.md, STYLE.md). Each boundary is a `no-restricted-imports` block
// scoped to the files it governs, so a violation names the rule it breaks.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const sockets = ['node:net', 'node:dgram', 'node:http', 'node:https', 'node:tls', 'ws', 'fastify'];
const drivers = ['better-sqlite3', 'pg'];

/**
 * One restriction block: `paths` are module names, `patterns` gitignore-style specifiers,
 * `regex` one regular expression over the specifier (for "anything outside X but Y").
 */
const restrict = (message, { paths = [], patterns = [], regex }) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: paths.map((name) => ({ name, message })),
      patterns: [...(patterns.length ? [{ group: patterns, message }] : []), ...(regex ? [{ regex, message }] : [])],
    },
  ],
});

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'image/dist/**',
      'image/.cache/**',
      'buildroot/output/**',
      'dispatcher/ui/dist/**',
      'data/**',
      '.cache/**',
      'coverage/**',
      'test/e2e/out/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        clearImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        queueMicrotask: 'readonly',
        structuredClone: 'readonly',
        fetch: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'error',
      'prefer-const': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // The CLI, benches, examples, scripts and tests talk to a terminal.
    files: [
      'cli/**',
      'bin/**',
      'bench/**',
      'examples/**',
      'test/**',
      '**/*.test.ts',
      '**/testing/**',
      '**/*.mjs',
      'monitoring/targets.ts',
      'image/build/progress.ts',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    // Ambient declarations describe someone else's module: names there are not "unused".
    files: ['**/*.d.ts'],
    rules: { '@typescript-eslint/no-unused-vars': 'off' },
  },
  {
    files: ['dispatcher/ui/src/**'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        location: 'readonly',
        localStorage: 'readonly',
        WebSocket: 'readonly',
        navigator: 'readonly',
        HTMLElement: 'readonly',
        Event: 'readonly',
        KeyboardEvent: 'readonly',
        MouseEvent: 'readonly',
        requestAnimationFrame: 'readonly',
        ResizeObserver: 'readonly',
        history: 'readonly',
      },
    },
  },
  // ── layering (later blocks replace earlier ones for the same files, so each repeats `drivers`) ────────────────────────────────────────────────────────────────────────────
  {
    // Only the store speaks SQL: nobody else imports a database driver.
    files: ['**/*.ts'],
    ignores: ['dispatcher/store/**', 'test/**', 'bench/**'],
    rules: restrict('only dispatcher/store/ may import a database driver', { paths: drivers }),
  },
  {
    // The running master (dispatcher, netboot) never imports the image builder: what both need
    // (fillTemplate, tail buffers) lives in common/. Same driver rule as above, plus that one.
    files: ['dispatcher/**/*.ts', 'netboot/**/*.ts'],
    ignores: ['dispatcher/store/**', 'dispatcher/domain/**', 'dispatcher/http/**', '**/*.test.ts', '**/testing/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: drivers.map((name) => ({ name, message: 'only dispatcher/store/ may import a database driver' })),
          patterns: [{ group: ['**/image/build/*'], message: 'the running master never imports the image builder: shared helpers live in common/' }],
        },
      ],
    },
  },
  {
    // The domain is pure: it imports only itself and common/ types — no transport, store or I/O.
    files: ['dispatcher/domain/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: restrict('dispatcher/domain is pure: import only from dispatcher/domain and common/ (types)', {
      paths: [...sockets, ...drivers, 'node:fs', 'node:fs/promises', 'node:child_process', 'pino', 'prom-client'],
      regex: '^\\.\\./(?!\\.\\./common/)',
    }),
  },
  {
    // Transports (routes, ws gateways) call the Dispatcher facade; they never reach into the store.
    files: ['dispatcher/http/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: restrict('transports call the Dispatcher facade, never the store', {
      paths: drivers,
      patterns: ['../store/*', '!../store/store.ts', '**/sqlite-store*', '**/memory-store*', '**/postgres-store*'],
    }),
  },
  {
    // Codecs and decisions are pure: Buffer in, typed value out — no sockets, timers or logger.
    files: [
      'netboot/dhcp/codec.ts',
      'netboot/dhcp/options.ts',
      'netboot/dhcp/decide.ts',
      'netboot/dhcp/reply.ts',
      'netboot/dhcp/pxe.ts',
      'netboot/tftp/codec.ts',
      'netboot/tftp/options.ts',
      'netboot/tftp/transfer.ts',
      'common/protocol.ts',
    ],
    rules: restrict('codecs and decisions are pure: no sockets, files or loggers', {
      paths: [...sockets, ...drivers, 'node:fs', 'node:fs/promises', 'pino'],
      patterns: ['**/logger*', '**/server*'],
    }),
  },
);
