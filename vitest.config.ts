import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'examples/*/src/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // No test may reach the real model hub: anything that forgets to point at its own
    // loopback fake hub fails fast on a closed loopback port instead.
    env: { HF_ENDPOINT: 'http://127.0.0.1:9' },
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
