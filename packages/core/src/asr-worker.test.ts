import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { AsrWorkerClient, builtWorkerUrl } from './asr-worker.js';
import type { TranscribeRequest } from './backend.js';
import { handOverAudio, takeHandedOver } from './handed-over-audio.js';
import { SpeechError } from './speech-error.js';

// The worker is a real thread running the built protocol (the test script builds first).
const built = new URL('../dist/asr-worker.js', import.meta.url);
const speechErrorModule = new URL('../dist/speech-error.js', import.meta.url);

/**
 * A scripted backend in a real worker thread. Its text tells what it received; the
 * language hint picks a behaviour: `refuse` throws a SpeechError, `broken` a plain Error,
 * `slow` runs until aborted, `crash` ends the thread.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { serveAsrWorker } = await import(workerData.protocol);
  const { SpeechError } = await import(workerData.errors);
  const describe = (request, batch) => {
    let sum = 0;
    for (const sample of request.audio) sum += sample;
    return { text: 'samples=' + request.audio.length + ' sum=' + sum + ' batch=' + batch, language: request.language ?? 'en', duration: request.audio.length / request.sampleRate, segments: [], words: [] };
  };
  const run = async (request, batch) => {
    if (request.language === 'refuse') throw new SpeechError('INVALID_REQUEST', 'no such language', { param: 'language' });
    if (request.language === 'broken') throw new Error('tensor shape mismatch');
    if (request.language === 'crash') process.exit(7);
    if (request.language === 'slow') {
      while (!request.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 5));
      throw request.signal.reason;
    }
    return describe(request, batch);
  };
  serveAsrWorker(parentPort, async () => {
    if (workerData.fail) throw new Error('the graph is broken');
    return {
      info: { maxBatchSize: 4 },
      backend: {
        transcribe: (request) => run(request, 1),
        transcribeBatch: (requests) => requests.map((request) => run(request, requests.length)),
        dispose: async () => parentPort.postMessage({ type: 'disposed' }),
      },
    };
  });
})();
`;

function startWorker(fail = false): Worker {
  if (!existsSync(fileURLToPath(built))) throw new Error(`${fileURLToPath(built)} is missing: build first with \`pnpm exec tsc -b\``);
  return new Worker(WORKER_SOURCE, { eval: true, workerData: { protocol: built.href, errors: speechErrorModule.href, fail } });
}

function request(audio: Float32Array, language?: string, signal = new AbortController().signal): TranscribeRequest {
  return { audio, sampleRate: 16000, task: 'transcribe', timestamps: false, language, signal };
}

const context = { executor: 'scripted', model: 'scripted-model' };

describe('AsrWorkerClient and serveAsrWorker', () => {
  it('answers ready with the worker info, and sends only the request view of the audio, leaving the caller buffer intact', async () => {
    const client = await AsrWorkerClient.start<{ maxBatchSize: number }>(startWorker(), context);
    try {
      expect(client.info).toEqual({ maxBatchSize: 4 });
      const whole = Float32Array.from({ length: 1000 }, (_, index) => index);
      const piece = whole.subarray(10, 14); // 10 + 11 + 12 + 13
      const result = await client.transcribe(request(piece, 'de'));
      expect(result).toMatchObject({ text: 'samples=4 sum=46 batch=1', language: 'de' });
      expect(result.duration).toBeCloseTo(4 / 16000, 12);
      expect(whole.length).toBe(1000);
      expect(piece[3]).toBe(13);
    } finally {
      await client.close();
    }
  });

  it("takes the buffer of a piece the chunker handed over instead of copying it, a view's own range only", async () => {
    const client = await AsrWorkerClient.start(startWorker(), context);
    try {
      const whole = Float32Array.from({ length: 1000 }, (_, index) => index);
      const given = handOverAudio(whole.subarray(0, 4)); // 0 + 1 + 2 + 3, in a buffer of 1000
      const kept = Float32Array.of(5, 6);
      const results = await Promise.all(client.transcribeBatch([request(given), request(kept)]));
      expect(results.map((result) => result.text)).toEqual(['samples=4 sum=6 batch=2', 'samples=2 sum=11 batch=2']);
      // Transferred, not copied: the handed-over buffer left this thread; the other is intact.
      expect(whole.buffer.byteLength).toBe(0);
      expect(given.length).toBe(0);
      expect(Array.from(kept)).toEqual([5, 6]);
      // Taken once: the mark went with it.
      expect(takeHandedOver(kept)).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it('hands requests sent together to transcribeBatch, each result to its own promise', async () => {
    const client = await AsrWorkerClient.start(startWorker(), context);
    try {
      const results = await Promise.all(client.transcribeBatch([1, 2, 3].map((count) => request(new Float32Array(count).fill(1)))));
      expect(results.map((result) => result.text)).toEqual(['samples=1 sum=1 batch=3', 'samples=2 sum=2 batch=3', 'samples=3 sum=3 batch=3']);
    } finally {
      await client.close();
    }
  });

  it('brings a SpeechError back whole, and makes any other error an INFERENCE_FAILED naming the executor and model', async () => {
    const client = await AsrWorkerClient.start(startWorker(), context);
    try {
      const refused = (await client.transcribe(request(new Float32Array(4), 'refuse')).catch((caught: unknown) => caught)) as SpeechError;
      expect(SpeechError.is(refused)).toBe(true);
      expect(refused).toMatchObject({ code: 'INVALID_REQUEST', status: 400, param: 'language', message: 'no such language' });
      const broken = (await client.transcribe(request(new Float32Array(4), 'broken')).catch((caught: unknown) => caught)) as SpeechError;
      expect(broken.code).toBe('INFERENCE_FAILED');
      expect(broken.message).toBe("scripted inference failed for model 'scripted-model': tensor shape mismatch");
    } finally {
      await client.close();
    }
  });

  it('relays an abort: the running request ends with ABORTED, the others in its batch and later requests are served', async () => {
    const client = await AsrWorkerClient.start(startWorker(), context);
    try {
      const controller = new AbortController();
      const [slow, quick] = client.transcribeBatch([request(new Float32Array(2), 'slow', controller.signal), request(new Float32Array(5))]);
      expect((await quick!).text).toBe('samples=5 sum=0 batch=2');
      controller.abort();
      const error = (await slow!.catch((caught: unknown) => caught)) as SpeechError;
      expect(error.code).toBe('ABORTED');
      expect((await client.transcribe(request(new Float32Array(3)))).text).toBe('samples=3 sum=0 batch=1');
      // Already aborted: refused without a trip to the worker.
      const gone = new AbortController();
      gone.abort();
      expect(((await client.transcribe(request(new Float32Array(3), undefined, gone.signal)).catch((caught: unknown) => caught)) as SpeechError).code).toBe('ABORTED');
    } finally {
      await client.close();
    }
  });

  it('when the worker dies, what was pending and what comes later fail with INFERENCE_FAILED that says to load again', async () => {
    const client = await AsrWorkerClient.start(startWorker(), context);
    const slow = client.transcribe(request(new Float32Array(2), 'slow'));
    const crash = client.transcribe(request(new Float32Array(2), 'crash'));
    for (const pending of [slow, crash]) {
      const error = (await pending.catch((caught: unknown) => caught)) as SpeechError;
      expect(error.code).toBe('INFERENCE_FAILED');
      expect(error.message).toMatch(/the scripted worker of model 'scripted-model' stopped \(the worker exited with code 7\); load the model again/);
    }
    expect(((await client.transcribe(request(new Float32Array(1))).catch((caught: unknown) => caught)) as SpeechError).code).toBe('INFERENCE_FAILED');
    await client.close();
  });

  it('a model that fails to open is MODEL_LOAD_FAILED with the reason, and the thread is ended', async () => {
    const worker = startWorker(true);
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const error = (await AsrWorkerClient.start(worker, context).catch((caught: unknown) => caught)) as SpeechError;
    expect(error.code).toBe('MODEL_LOAD_FAILED');
    expect(error.message).toContain('the graph is broken');
    await exited;
  });

  it('close() disposes the model in the worker, ends the thread, and later requests fail', async () => {
    const worker = startWorker();
    const client = await AsrWorkerClient.start(worker, context);
    const disposed = new Promise<void>((resolve) => worker.on('message', (message: { type: string }) => message.type === 'disposed' && resolve()));
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    await client.close();
    await disposed;
    await exited;
    expect(((await client.transcribe(request(new Float32Array(1))).catch((caught: unknown) => caught)) as SpeechError).code).toBe('INFERENCE_FAILED');
  });
});

describe('builtWorkerUrl', () => {
  it('finds the worker beside a built module, in dist/ from the sources, and otherwise says to build', async () => {
    const root = await mkdtemp(join(tmpdir(), 'talkies-worker-url-'));
    try {
      await mkdir(join(root, 'src'));
      await mkdir(join(root, 'dist'));
      await writeFile(join(root, 'dist', 'engine-worker.js'), '');
      const fromDist = pathToFileURL(join(root, 'dist', 'backend.js'));
      const fromSource = pathToFileURL(join(root, 'src', 'backend.ts'));
      expect(fileURLToPath(builtWorkerUrl(fromDist, 'engine-worker.js'))).toBe(join(root, 'dist', 'engine-worker.js'));
      expect(fileURLToPath(builtWorkerUrl(fromSource, 'engine-worker.js'))).toBe(join(root, 'dist', 'engine-worker.js'));
      expect(() => builtWorkerUrl(fromSource, 'other-worker.js')).toThrow(/other-worker\.js is not built .*pnpm exec tsc -b/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
