/**
 * onnxruntime-node is an optional peer of core: importing core, building a chunker and
 * transcribing short audio must not load it; only a long source does.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import type { AsrBackend } from './backend.js';

const run = promisify(execFile);

describe('onnxruntime-node loads lazily', () => {
  it('is not loaded by importing core or by short audio, and is loaded by the first long source', async () => {
    const dlopen = vi.spyOn(process, 'dlopen');
    const loadedNative = () => dlopen.mock.calls.map((call) => String(call[1])).filter((file) => /onnxruntime/.test(file));

    const core = await import('./index.js');
    const chunker = new core.VadChunker(core.createSileroDetector, core.DEFAULT_LONG_AUDIO_OPTIONS);
    const backend: AsrBackend = {
      specificationVersion: 'v1',
      modality: 'asr',
      capabilities: { wordTimestamps: false, segmentTimestamps: false, streaming: false, translation: false, languages: 'any', longForm: false },
      load: async () => {},
      dispose: async () => {},
      transcribe: async () => ({ text: 'ok', segments: [], words: [] }),
    };
    const request = { task: 'transcribe' as const, timestamps: false, signal: new AbortController().signal };

    await chunker.transcribe(backend, new Float32Array(20 * 16000), request);
    expect(loadedNative()).toEqual([]);

    await chunker.transcribe(backend, new Float32Array(31 * 16000), request);
    expect(loadedNative()).toHaveLength(1);
    await chunker.dispose();
    dlopen.mockRestore();
  });
});

/** The built files of the detector, copied where no onnxruntime-node can be resolved. */
const distribution = fileURLToPath(new URL('../dist/', import.meta.url));
const builtFiles = ['silero-detector.js', 'speech-error.js', 'vad-speech-detector.js'];
const built = builtFiles.every((file) => existsSync(join(distribution, file)));
if (!built) console.warn(`silero-detector-lazy.test: ${distribution} is not built (run tsc -b); the missing-runtime test is skipped`);

describe.skipIf(!built)('without onnxruntime-node installed', () => {
  it('fails with a MODEL_UNAVAILABLE SpeechError that says what to install', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'talkies-no-ort-'));
    try {
      await writeFile(join(directory, 'package.json'), '{"type":"module"}');
      for (const file of builtFiles) await copyFile(join(distribution, file), join(directory, file));
      const script = `
        const { createSileroDetector } = await import('./silero-detector.js');
        const failure = await createSileroDetector({ modelPath: 'unused.onnx' }).catch((error) => error);
        console.log(JSON.stringify({ code: failure.code, message: failure.message }));`;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: directory });
      const failure = JSON.parse(stdout) as { code: string; message: string };
      expect(failure.code).toBe('MODEL_UNAVAILABLE');
      expect(failure.message).toMatch(/add the optional package 'onnxruntime-node'/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
