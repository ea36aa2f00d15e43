import { availableParallelism } from 'node:os';
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
    // Vitest's default is one file at a time on 2 cores (cores - 1). Most files here spend
    // much of their time waiting (on servers over loopback, ffmpeg processes, worker
    // threads, idle timeouts), so two files at once keep both cores busy.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Node 24.22.3 (V8 13.6.233.17) sometimes miscompiles with Maglev, depending on when
    // its concurrent compile finishes: objects built by one object literal then share the
    // boxes of their fractional-number fields, so an object made earlier reads the numbers
    // of one made later. It made request-batcher.test.ts fail under load (its backend's
    // segment times were those of another piece, its text was right). With --no-maglev it
    // never did: 16 of 300 fresh processes running that test's scenario failed with the
    // default flags, 0 of 300 with --no-maglev (0 of 200 more in an earlier batch).
    // --expose-gc: memory-bound tests measure live memory (collect, then read), not garbage
    // that a busy machine has not collected yet.
    execArgv: ['--no-maglev', '--expose-gc'],
    // No test may reach the real model hub: anything that forgets to point at its own
    // loopback fake hub fails fast on a closed loopback port instead.
    // One onnxruntime thread per model: test files run side by side, and two files' models
    // with a thread per core each fought over the cores (whisper and nemo files: 94 s
    // against 78 s). The engines' own default is tested in core and engine-whisper.
    env: { HF_ENDPOINT: 'http://127.0.0.1:9', TALKIES_INFERENCE_THREADS: '1' },
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
