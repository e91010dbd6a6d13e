import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/helpers/bot-logs-on-failure.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration and e2e tests start processes and servers; two cores do not reward more workers.
    maxWorkers: 2,
    // it.concurrent cells (the crash-point matrix) each run bot processes: three at a time is what 2 cores take.
    maxConcurrency: 3,
  },
});
